//! JSON APIs: each response is one page of records. The mapping says where the records are (a JSON
//! Pointer), where each field of a record is (pointers, `*` for every element of an array), and how
//! to ask for the next page; from there a record becomes an item exactly as a CSV row does.
//!
//! The connector stays pure: it reads one page and says which URL holds the next one
//! ([`Parsed::next_page`]); the hub fetches it.

use serde_json::Value;

use crate::csv::Plan;
use crate::mapping::{Column, Mapping, PageKind, Pagination, Pointer};
use crate::model::NormalisedItem;
use crate::{Chunks, ConnectorError, FeedContext, Parsed};

/// Values of a field holding several (an array, or a `*` pointer) are joined by this.
const JOIN: &str = "; ";

/// One page of a JSON API as items, handed to `sink` in chunks. `context.url` is the URL the page
/// was fetched from; the next page's URL, when there is one, is in [`Parsed::next_page`]. A record
/// that cannot be an item is skipped with a warning; a page whose records are all unusable is an
/// error, and so is a response without records where the mapping says they are.
pub fn parse_chunks(
    bytes: &[u8],
    mapping: &Mapping,
    context: &FeedContext,
    chunk_size: usize,
    sink: &mut dyn FnMut(Vec<NormalisedItem>),
) -> Result<Parsed, ConnectorError> {
    let document: Value =
        serde_json::from_slice(bytes).map_err(|e| ConnectorError::Invalid(format!("the response is not JSON: {e}")))?;
    let records = records(&document, mapping.records.as_ref()).map_err(ConnectorError::Invalid)?;

    // The fields the mapping reads become the columns of a table, so a record becomes an item
    // exactly as a CSV row does.
    let mut pointers: Vec<&Pointer> = Vec::new();
    for (_, column) in mapping.columns() {
        if let Column::Pointer(p) = column {
            if !pointers.contains(&p) {
                pointers.push(p);
            }
        }
    }
    let headers: Vec<String> = pointers.iter().map(|p| p.as_str().to_string()).collect();
    let plan = Plan::resolve(&headers, None, Some(mapping)).map_err(|e| ConnectorError::Invalid(e.to_string()))?;

    let mut parsed = Parsed::default();
    let mut out = Chunks::new(chunk_size, sink);
    let mut warnings = Vec::new();
    let mut objects: Vec<&str> = Vec::new();
    let mut skipped = 0;
    for (n, record) in records.iter().enumerate() {
        let row: Vec<String> = pointers
            .iter()
            .map(|p| {
                let (text, object) = cell(record, p);
                if object && !objects.contains(&p.as_str()) {
                    objects.push(p.as_str());
                }
                text
            })
            .collect();
        match plan.item(&row, context, &mut warnings) {
            Ok(item) => out.push(item),
            Err(reason) => {
                skipped += 1;
                warnings.push(format!("record {} was skipped: {reason}", n + 1));
            }
        }
    }
    out.flush();
    if out.kept == 0 && !records.is_empty() {
        let first = warnings.first().map(|w| format!(" (first: {w})")).unwrap_or_default();
        return Err(ConnectorError::Invalid(format!("the response has no usable records{first}")));
    }
    for pointer in objects {
        parsed.warnings.push(format!(
            "`{pointer}` holds objects, which were read as empty; point into them (e.g. `{pointer}/name`)"
        ));
    }
    if skipped > 0 {
        parsed.warnings.push(format!("{skipped} of {} records were skipped", records.len()));
    }
    if out.repeated > 0 {
        parsed.warnings.push(format!(
            "{} records repeat the identity of an earlier record; the first of each was kept",
            out.repeated
        ));
    }
    parsed.warnings.extend(warnings);
    parsed.warnings_dropped = crate::cap_warnings(&mut parsed.warnings, 0);
    parsed.skipped = skipped;
    parsed.records = records.len();
    parsed.keys = out.finish();
    if let (Some(pagination), Some(url)) = (&mapping.pagination, &context.url) {
        parsed.next_page =
            next_page(pagination, url, &document, records.len(), mapping.snapshot).map_err(ConnectorError::Invalid)?;
    }
    Ok(parsed)
}

/// The records of a response: the array at `pointer` (the whole response when there is none).
fn records<'a>(document: &'a Value, pointer: Option<&Pointer>) -> Result<&'a [Value], String> {
    let at = pointer.map_or("", Pointer::as_str);
    let where_ = if at.is_empty() { "the response".to_string() } else { format!("`{at}`") };
    let found = match pointer {
        Some(p) => select_one(document, p.segments()),
        None => Some(document),
    };
    match found {
        Some(Value::Array(records)) => Ok(records),
        // An API that finds nothing may say so with null.
        Some(Value::Null) => Ok(&[]),
        Some(other) => Err(format!("{where_} is {}, not an array of records", kind(other))),
        None => {
            let keys = match document {
                Value::Object(map) => {
                    format!(
                        " (the response has: {})",
                        map.keys().map(|k| format!("/{k}")).collect::<Vec<_>>().join(", ")
                    )
                }
                _ => String::new(),
            };
            Err(format!("the response has nothing at {where_}, where the mapping says the records are{keys}"))
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at a pointer without wildcards.
fn select_one<'a>(value: &'a Value, segments: &[String]) -> Option<&'a Value> {
    segments.iter().try_fold(value, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Every value a pointer reaches, `*` taking each element of an array.
fn select<'a>(value: &'a Value, segments: &[String], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Value::Array(items) if first == "*" => items.iter().for_each(|item| select(item, rest, out)),
        Value::Array(items) => {
            if let Some(item) = first.parse::<usize>().ok().and_then(|i| items.get(i)) {
                select(item, rest, out);
            }
        }
        Value::Object(map) => {
            if let Some(item) = map.get(first) {
                select(item, rest, out);
            }
        }
        _ => {}
    }
}

/// A field of a record as cell text: strings as they are, numbers and booleans written out,
/// arrays of them joined; and whether an object was met (it has no text).
fn cell(record: &Value, pointer: &Pointer) -> (String, bool) {
    let mut values = Vec::new();
    select(record, pointer.segments(), &mut values);
    let mut parts: Vec<String> = Vec::new();
    let mut object = false;
    let mut add = |value: &Value, parts: &mut Vec<String>| match value {
        Value::String(s) => parts.push(s.clone()),
        Value::Number(n) => parts.push(n.to_string()),
        Value::Bool(b) => parts.push(b.to_string()),
        Value::Null => {}
        Value::Object(_) | Value::Array(_) => object = true,
    };
    for value in values {
        match value {
            Value::Array(items) => items.iter().for_each(|item| add(item, &mut parts)),
            other => add(other, &mut parts),
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    (parts.join(JOIN), object)
}

/// The URL of the first page: the feed's URL with the page size asked for, when the mapping
/// gives one and the URL does not.
pub fn first_page(pagination: Option<&Pagination>, feed_url: &str) -> String {
    let Some(p) = pagination.filter(|p| matches!(p.kind, PageKind::Offset | PageKind::Page)) else {
        return feed_url.to_string();
    };
    let (Some(limit), Ok(mut url)) = (p.limit, url::Url::parse(feed_url)) else {
        return feed_url.to_string();
    };
    let param = p.limit_param.as_deref().unwrap_or("limit");
    if query(&url, param).is_none() {
        url.query_pairs_mut().append_pair(param, &limit.to_string());
    }
    url.to_string()
}

/// The URL of the page after the one fetched from `url`, or `None` when it was the last. With
/// `sure`, a short page is not taken for the last one unless the response's total or number of
/// pages says so (a server may send fewer records than asked for): a snapshot must not take an
/// unread page for a withdrawn one, so it reads on until an empty page.
pub fn next_page(
    pagination: &Pagination,
    url: &str,
    document: &Value,
    records: usize,
    sure: bool,
) -> Result<Option<String>, String> {
    let current = url::Url::parse(url).map_err(|e| format!("the page URL `{url}` is not a URL: {e}"))?;
    let number = |pointer: &Option<Pointer>| -> Option<u64> {
        let value = select_one(document, pointer.as_ref()?.segments())?;
        value.as_u64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
    };
    let next = match pagination.kind {
        PageKind::NextLink => {
            let Some(link) = pagination.next.as_ref().and_then(|p| select_one(document, p.segments())) else {
                return Ok(None);
            };
            let link = match link {
                Value::String(s) if !s.trim().is_empty() => s.trim(),
                Value::Null | Value::String(_) | Value::Bool(false) => return Ok(None),
                other => return Err(format!("the next page link is {}, not a URL", kind(other))),
            };
            current.join(link).map_err(|e| format!("the next page link `{link}` is not a URL: {e}"))?
        }
        PageKind::Offset => {
            let offset_param = pagination.offset_param.as_deref().unwrap_or("offset");
            let limit_param = pagination.limit_param.as_deref().unwrap_or("limit");
            let offset = query(&current, offset_param).and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
            // The size this request asked for: its URL's, else the mapping's.
            let limit = query(&current, limit_param).and_then(|l| l.parse().ok()).or(pagination.limit);
            let seen = offset.saturating_add(records as u64);
            let last = match number(&pagination.total) {
                Some(total) => seen >= total,
                None => !sure && limit.is_some_and(|l| (records as u64) < l),
            };
            if records == 0 || last {
                return Ok(None);
            }
            with_query(&current, offset_param, &seen.to_string())
        }
        PageKind::Page => {
            let page_param = pagination.page_param.as_deref().unwrap_or("page");
            let limit_param = pagination.limit_param.as_deref().unwrap_or("limit");
            let first = pagination.first_page.unwrap_or(1);
            let page = query(&current, page_param).and_then(|p| p.parse::<u64>().ok()).unwrap_or(first);
            let limit = query(&current, limit_param).and_then(|l| l.parse().ok()).or(pagination.limit);
            let last = match number(&pagination.pages) {
                Some(pages) => page.saturating_add(1).saturating_sub(first) >= pages,
                None => !sure && limit.is_some_and(|l| (records as u64) < l),
            };
            if records == 0 || last || page == u64::MAX {
                return Ok(None);
            }
            with_query(&current, page_param, &(page + 1).to_string())
        }
        PageKind::Cursor => {
            if records == 0 {
                return Ok(None);
            }
            let param = pagination.cursor_param.as_deref().unwrap_or("cursor");
            let cursor = pagination.cursor.as_ref().and_then(|p| select_one(document, p.segments()));
            let cursor = match cursor {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Ok(None),
            };
            if query(&current, param).as_deref() == Some(cursor.as_str()) {
                return Ok(None);
            }
            with_query(&current, param, &cursor)
        }
    };
    // A page that points at itself would be read forever.
    Ok(Some(next).filter(|next| *next != current).map(|u| u.to_string()))
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `url` with query parameter `name` set to `value` (replacing it, or added last).
fn with_query(url: &url::Url, name: &str, value: &str) -> url::Url {
    let mut pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    match pairs.iter_mut().find(|(k, _)| k == name) {
        Some(pair) => pair.1 = value.to_string(),
        None => pairs.push((name.to_string(), value.to_string())),
    }
    let mut next = url.clone();
    next.query_pairs_mut().clear().extend_pairs(pairs);
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryRole;

    fn mapping(extra: &str) -> Mapping {
        Mapping::parse(&format!(
            "format = \"json\"\nrecords = \"/data\"\n{extra}\n[item]\nid = [\"/id\"]\ntitle = \"{{/fields/title}}\"\n\
             countries = [{{ column = \"/fields/country/*/iso3\", role = \"ASYLUM\" }}]\n\
             [[figures]]\ncolumn = \"/fields/people\"\nunit = \"people\""
        ))
        .unwrap()
    }

    fn parse(json: &str, mapping: &Mapping, url: &str) -> Result<Parsed, ConnectorError> {
        let context = FeedContext { url: Some(url.to_string()), ..FeedContext::default() };
        let mut items = Vec::new();
        let mut parsed = parse_chunks(json.as_bytes(), mapping, &context, 1000, &mut |c| items.extend(c))?;
        parsed.items = items;
        Ok(parsed)
    }

    #[test]
    fn records_become_items_with_fields_from_pointers() {
        let json = r#"{"data": [
            {"id": 7, "fields": {"title": "Border crossing reopens", "people": 1200,
              "country": [{"iso3": "TUR"}, {"iso3": "GRC"}]}},
            {"id": "8", "fields": {"title": "Shelter report", "people": "-", "country": []}}
        ]}"#;
        let parsed = parse(json, &mapping(""), "https://api.example.org/v2/reports").unwrap();
        assert_eq!(parsed.items.len(), 2);
        let first = &parsed.items[0];
        assert_eq!(first.source_key, "id:7");
        assert_eq!(first.title, "Border crossing reopens");
        assert_eq!(first.figures[0].value, 1200.0);
        assert_eq!(first.figures[0].measure, "people");
        let countries: Vec<(String, CountryRole)> =
            first.countries.iter().map(|c| (c.code.to_string(), c.role)).collect();
        assert_eq!(countries, [("TR".to_string(), CountryRole::Asylum), ("GR".to_string(), CountryRole::Asylum)]);
        // A dash is no value, not a bad number.
        assert!(parsed.items[1].figures.is_empty());
        assert_eq!(parsed.records, 2);
        assert_eq!(parsed.next_page, None);
    }

    #[test]
    fn a_bad_record_is_skipped_and_a_missing_envelope_is_an_error() {
        let json =
            r#"{"data": [{"id": 1, "fields": {"title": "A", "people": "many"}}, {"id": 2, "fields": {"title": "B"}}]}"#;
        let parsed = parse(json, &mapping(""), "https://x.org/").unwrap();
        assert_eq!(parsed.items.len(), 1);
        assert_eq!(parsed.skipped, 1);
        assert!(parsed.warnings.iter().any(|w| w.contains("record 1 was skipped: `many`")), "{:?}", parsed.warnings);

        let error = parse(r#"{"results": []}"#, &mapping(""), "https://x.org/").unwrap_err().to_string();
        assert!(error.contains("nothing at `/data`") && error.contains("/results"), "{error}");
        let error = parse(r#"{"data": {"id": 1}}"#, &mapping(""), "https://x.org/").unwrap_err().to_string();
        assert!(error.contains("`/data` is an object, not an array"), "{error}");
        let error = parse("{\"data\": [", &mapping(""), "https://x.org/").unwrap_err().to_string();
        assert!(error.contains("not JSON") && error.contains("line 1"), "{error}");
        let error = parse(r#"{"data": [{"fields": {"title": "no id"}}]}"#, &mapping(""), "https://x.org/").unwrap_err();
        assert!(error.to_string().contains("no usable records"), "{error}");
        // An empty page is not an error: the API found nothing.
        assert!(parse(r#"{"data": []}"#, &mapping(""), "https://x.org/").unwrap().items.is_empty());
    }

    #[test]
    fn a_record_the_source_marks_deleted_is_an_item_to_withdraw() {
        let m = Mapping::parse(
            "format = \"json\"\n[item]\nid = [\"/id\"]\ntitle = \"{/name}\"\n\
             deleted = { column = \"/status\", values = [\"deleted\", \"unpublished\"] }",
        )
        .unwrap();
        let json = r#"[{"id": 1, "name": "Kept", "status": "published"}, {"id": 2, "status": " Deleted "}]"#;
        let parsed = parse(json, &m, "https://x.org/").unwrap();
        assert_eq!(parsed.items.len(), 2);
        assert!(!parsed.items[0].deleted);
        assert!(parsed.items[1].deleted, "no title needed: only the identity matters");
        assert_eq!(parsed.items[1].source_key, "id:2");
        let empty =
            Mapping::parse("format = \"json\"\n[item]\ntitle = \"{/n}\"\ndeleted = { column = \"/s\", values = [] }");
        assert!(empty.unwrap_err().to_string().contains("item.deleted.values"));
    }

    #[test]
    fn an_object_where_text_is_expected_is_named_in_a_warning() {
        let m = Mapping::parse("format = \"json\"\n[item]\nid = [\"/id\"]\ntitle = \"{/name} {/country}\"").unwrap();
        let parsed =
            parse(r#"[{"id": 1, "name": "Appeal", "country": {"name": "Chad"}}]"#, &m, "https://x.org/").unwrap();
        assert_eq!(parsed.items[0].title, "Appeal");
        assert!(parsed.warnings.iter().any(|w| w.contains("`/country` holds objects")), "{:?}", parsed.warnings);
    }

    fn next(extra: &str, url: &str, json: &str) -> Option<String> {
        let m = mapping(extra);
        let document: Value = serde_json::from_str(json).unwrap();
        let records = document["data"].as_array().map_or(0, Vec::len);
        next_page(m.pagination.as_ref().unwrap(), url, &document, records, m.snapshot).unwrap()
    }

    #[test]
    fn next_links_resolve_against_the_page_and_stop_when_absent_or_circular() {
        let extra = "[pagination]\nkind = \"next_link\"\nnext = \"/links/next/href\"";
        let url = "https://api.example.org/v2/reports?offset=0";
        let page = r#"{"data": [{}], "links": {"next": {"href": "/v2/reports?offset=10"}}}"#;
        assert_eq!(next(extra, url, page).as_deref(), Some("https://api.example.org/v2/reports?offset=10"));
        assert_eq!(next(extra, url, r#"{"data": [{}], "links": {}}"#), None);
        assert_eq!(next(extra, url, r#"{"data": [{}], "links": {"next": null}}"#), None);
        let itself = r#"{"data": [{}], "links": {"next": {"href": "https://api.example.org/v2/reports?offset=0"}}}"#;
        assert_eq!(next(extra, url, itself), None);
    }

    #[test]
    fn offsets_advance_by_the_records_read_until_the_total_or_a_short_page() {
        let extra = "[pagination]\nkind = \"offset\"\nlimit = 2\ntotal = \"/totalCount\"";
        let page = r#"{"data": [{}, {}], "totalCount": 5}"#;
        let url = first_page(mapping(extra).pagination.as_ref(), "https://x.org/reports?appname=hub");
        assert_eq!(url, "https://x.org/reports?appname=hub&limit=2");
        assert_eq!(next(extra, &url, page).as_deref(), Some("https://x.org/reports?appname=hub&limit=2&offset=2"));
        let last = "https://x.org/reports?appname=hub&limit=2&offset=4";
        assert_eq!(next(extra, last, r#"{"data": [{}], "totalCount": 5}"#), None);
        let no_total = "[pagination]\nkind = \"offset\"\nlimit = 2";
        assert!(next(no_total, &url, r#"{"data": [{}, {}]}"#).is_some());
        assert_eq!(next(no_total, &url, r#"{"data": [{}]}"#), None);
        assert_eq!(next(no_total, &url, r#"{"data": []}"#), None);
        // The size asked for is the URL's when it sets one.
        let fifty = format!(r#"{{"data": [{}]}}"#, vec!["{}"; 50].join(","));
        assert!(next(no_total, "https://x.org/reports?limit=50", &fifty).is_some());
        // A snapshot reads on past a short page (the server may cap the size) until an empty one.
        let snapshot = "snapshot = true\n[pagination]\nkind = \"offset\"\nlimit = 2";
        assert!(next(snapshot, &url, r#"{"data": [{}]}"#).is_some());
        assert_eq!(next(snapshot, &url, r#"{"data": []}"#), None);
        // Offsets and page numbers at the end of the integers end the read rather than overflow.
        let huge = "https://x.org/p?offset=18446744073709551615&page=18446744073709551615";
        assert_eq!(next(no_total, huge, r#"{"data": [{}, {}]}"#), None);
        assert_eq!(next("[pagination]\nkind = \"page\"", huge, r#"{"data": [{}]}"#), None);
        let pages = "[pagination]\nkind = \"page\"\npages = \"/n\"\nfirst_page = 5";
        // A page number below the first does not underflow.
        assert!(next(pages, "https://x.org/p?page=1", r#"{"data": [{}], "n": 2}"#).is_some());
    }

    #[test]
    fn pages_count_up_to_the_number_of_pages() {
        let extra = "[pagination]\nkind = \"page\"\npages = \"/maxPages\"";
        let page = |n: u64| format!(r#"{{"data": [{{}}], "page": {n}, "maxPages": 3}}"#);
        let url = "https://x.org/population/?limit=1&yearFrom=2023";
        assert_eq!(
            next(extra, url, &page(1)).as_deref(),
            Some("https://x.org/population/?limit=1&yearFrom=2023&page=2")
        );
        let second = "https://x.org/population/?limit=1&page=2&yearFrom=2023";
        assert_eq!(
            next(extra, second, &page(2)).as_deref(),
            Some("https://x.org/population/?limit=1&page=3&yearFrom=2023")
        );
        assert_eq!(next(extra, "https://x.org/population/?page=3", &page(3)), None);
        // Pages counted from zero.
        let zero = "[pagination]\nkind = \"page\"\nfirst_page = 0\npages = \"/maxPages\"";
        assert!(next(zero, "https://x.org/p?page=1", &page(2)).is_some());
        assert_eq!(next(zero, "https://x.org/p?page=2", &page(3)), None);
    }

    #[test]
    fn cursors_are_sent_back_until_there_is_none() {
        let extra = "[pagination]\nkind = \"cursor\"\ncursor = \"/meta/next_cursor\"\ncursor_param = \"after\"";
        let url = "https://x.org/items";
        let page = r#"{"data": [{}], "meta": {"next_cursor": "abc=="}}"#;
        assert_eq!(next(extra, url, page).as_deref(), Some("https://x.org/items?after=abc%3D%3D"));
        assert_eq!(next(extra, "https://x.org/items?after=abc%3D%3D", page), None);
        assert_eq!(next(extra, url, r#"{"data": [], "meta": {"next_cursor": ""}}"#), None);
        let empty = r#"{"data": [], "meta": {"next_cursor": "more"}}"#;
        assert_eq!(next(extra, url, empty), None, "an empty page ends it");
    }

    #[test]
    fn a_json_mapping_is_checked_for_what_json_needs() {
        let error = |text: &str| Mapping::parse(text).unwrap_err().to_string();
        let base = "format = \"json\"\n[item]\ntitle = \"{/t}\"";
        assert!(error("format = \"json\"\n[item]\ntitle = \"{Title}\"").contains("`Title` is not a JSON Pointer"));
        assert!(error("format = \"json\"").contains("needs a title template"));
        assert!(error("format = \"csv\"\n[item]\ntitle = \"{/t}\"").contains("is a JSON Pointer"));
        assert!(error("format = \"csv\"\nrecords = \"/data\"").contains("records: only a JSON mapping"));
        assert!(error(&format!("records = \"data\"\n{base}")).contains("must start with `/`"));
        let secret = error(&format!("{base}\n[headers]\nX-Api-Key = \"abc123\""));
        assert!(secret.contains("headers.X-Api-Key: a secret must not be written"), "{secret}");
        assert!(error(&format!("{base}\n[headers]\nAccept = {{ file = \"x\" }}")).contains("{ env = \"NAME\" }"));
        assert!(
            error(&format!("{base}\n[headers]\nX-Key = {{ env = \"A-B\" }}")).contains("not an environment variable")
        );
        assert!(error(&format!("{base}\n[pagination]\nkind = \"next_link\"")).contains("pagination.next is required"));
        let misplaced = error(&format!("{base}\n[pagination]\nkind = \"cursor\"\ncursor = \"/c\"\nlimit = 5"));
        assert!(misplaced.contains("pagination.limit does not apply to kind = \"cursor\""), "{misplaced}");
        assert!(error(&format!("{base}\n[pagination]\nkind = \"scroll\"")).contains("scroll"));
        let ok =
            Mapping::parse(&format!("{base}\n[headers]\nAccept = \"application/json\"\nX-Key = {{ env = \"KEY\" }}"));
        assert!(ok.is_ok(), "{ok:?}");
    }
}
