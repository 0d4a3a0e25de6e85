//! Fresh PostgreSQL databases for tests, on the server `TEST_POSTGRES_URL` names (by
//! default the machine's, `postgres://postgres@127.0.0.1:5432`). Each database is dropped when
//! its handle is.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, PgConnection};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", server_url().trim_end_matches('/'));
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} is needed for this test (set TEST_POSTGRES_URL to another server): {e}")
    })
}

/// An empty database of its own.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("tributary_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin = admin().await;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("test database created");
        admin.close().await.ok();
        TestDatabase { url: format!("{}/{name}", server_url().trim_end_matches('/')), name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // drops the database, closing what connections are left.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut admin = admin().await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
