//! Seed data: the four networks, the National Societies of the IFRC's Europe, Asia Pacific and
//! Americas regions, the IFRC and the ICRC, and the memberships a public source establishes. The
//! files live in `src/seed/` (see `src/seed/SOURCES.md`) and are compiled into the binary.

use anyhow::{anyhow, Context};
use serde::Deserialize;

use crate::model::{IfrcRegion, MemberRole, Membership, Network, OrgId, OrgKind, Organisation};

/// Bump when the seed files gain rows, so existing hubs add them on their next start.
/// 2: the external publishers IOM, UNHCR and OCHA.
pub const SEED_VERSION: i64 = 2;

const ORGANISATIONS: &str = include_str!("seed/organisations.tsv");
const NETWORKS: &str = include_str!("seed/networks.toml");
const MEMBERSHIPS: &str = include_str!("seed/memberships.tsv");

/// The parsed seed.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Organisations.
    pub organisations: Vec<Organisation>,
    /// Networks.
    pub networks: Vec<Network>,
    /// Memberships with their sources.
    pub memberships: Vec<Membership>,
}

#[derive(Deserialize)]
struct NetworkFile {
    network: Vec<NetworkRow>,
}

#[derive(Deserialize)]
struct NetworkRow {
    slug: String,
    name_en: String,
    short_name: String,
    region: Option<String>,
    founded: Option<String>,
    description: Option<String>,
    source: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Rows of a TSV file with a header, skipping blank and `#` comment lines.
fn tsv_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(n, l)| (n + 1, l.split('\t').collect()))
}

impl Seed {
    /// Parses the bundled seed files.
    pub fn bundled() -> anyhow::Result<Seed> {
        let mut organisations = Vec::new();
        for (line, cols) in tsv_rows(ORGANISATIONS) {
            let [code, kind, region, name_en, name_local, local_lang, source] = cols[..] else {
                return Err(anyhow!("organisations.tsv line {line}: expected 7 columns"));
            };
            organisations.push(Organisation {
                id: OrgId(code.to_string()),
                kind: kind.parse::<OrgKind>().map_err(|e| anyhow!("organisations.tsv line {line}: {e}"))?,
                name_en: name_en.to_string(),
                name_local: non_empty(name_local),
                local_language: non_empty(local_lang),
                region: non_empty(region)
                    .map(|r| r.parse::<IfrcRegion>())
                    .transpose()
                    .map_err(|e| anyhow!("organisations.tsv line {line}: {e}"))?,
                source: non_empty(source),
            });
        }
        let file: NetworkFile = toml::from_str(NETWORKS).context("src/seed/networks.toml")?;
        let networks = file
            .network
            .into_iter()
            .map(|n| {
                Ok(Network {
                    region: n.region.as_deref().map(str::parse::<IfrcRegion>).transpose().map_err(|e| anyhow!(e))?,
                    slug: n.slug,
                    short_name: n.short_name,
                    name_en: n.name_en,
                    founded: n.founded.as_deref().and_then(non_empty),
                    description: n.description,
                    source: n.source,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut memberships = Vec::new();
        for (line, cols) in tsv_rows(MEMBERSHIPS) {
            let [network, organisation, role, source] = cols[..] else {
                return Err(anyhow!("memberships.tsv line {line}: expected 4 columns"));
            };
            memberships.push(Membership {
                network: network.to_string(),
                organisation: OrgId(organisation.to_string()),
                role: role.parse::<MemberRole>().map_err(|e| anyhow!("memberships.tsv line {line}: {e}"))?,
                source: non_empty(source),
            });
        }
        Ok(Seed { organisations, networks, memberships })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_seed_is_consistent() {
        let seed = Seed::bundled().unwrap();
        let slugs: Vec<&str> = seed.networks.iter().map(|n| n.slug.as_str()).collect();
        assert_eq!(slugs, ["perco", "apmn", "americas", "central-asia"]);
        assert!(seed.organisations.iter().any(|o| o.kind == OrgKind::Ifrc));
        assert!(seed.organisations.iter().any(|o| o.kind == OrgKind::Icrc));
        for region in [IfrcRegion::Europe, IfrcRegion::AsiaPacific, IfrcRegion::Americas] {
            let n = seed.organisations.iter().filter(|o| o.region == Some(region)).count();
            assert!(n >= 30, "{region}: only {n} societies");
        }
        for m in &seed.memberships {
            assert!(seed.organisations.iter().any(|o| o.id == m.organisation), "unknown member {}", m.organisation);
            assert!(slugs.contains(&m.network.as_str()), "unknown network {}", m.network);
            assert!(m.source.is_some(), "membership {} {} has no source", m.network, m.organisation);
        }
        for o in seed.organisations.iter().filter(|o| o.kind == OrgKind::Society) {
            assert!(connectors::CountryCode::parse(&o.id.0).is_ok(), "society code {} is not a country", o.id);
        }
    }
}
