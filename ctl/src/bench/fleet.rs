//! The simulated clients: bench accounts created with the admin token,
//! their connections, and a bounded-concurrency helper to do either for
//! thousands at once.

use super::nodes::Nodes;
use super::report::{BenchReport, Latencies};
use anyhow::{Context, anyhow};
use chat_client::{ClientConfig, Connection};
use chat_protocol::UserChange;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// A bench account: its username and an API token for it.
#[derive(Debug, Clone)]
pub struct Account {
    /// `bench-<id>-u<n>`.
    pub name: String,
    /// Secret API token.
    pub token: String,
}

/// A connected, authenticated simulated client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its account.
    pub account: Account,
    /// Its connection.
    pub conn: Connection,
}

/// Runs `f` on every item with at most `limit` running at once; results in
/// item order.
///
/// # Errors
/// The first error any call returns, or a task panic.
pub async fn par<T, R, Fut>(
    items: Vec<T>,
    limit: usize,
    f: impl Fn(usize, T) -> Fut,
) -> anyhow::Result<Vec<R>>
where
    Fut: Future<Output = anyhow::Result<R>> + Send + 'static,
    R: Send + 'static,
{
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let mut set = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        if set.len() >= limit.max(1) {
            join_one(&mut set, &mut out).await?;
        }
        let fut = f(i, item);
        set.spawn(async move { (i, fut.await) });
    }
    while !set.is_empty() {
        join_one(&mut set, &mut out).await?;
    }
    out.into_iter()
        .map(|r| r.ok_or_else(|| anyhow!("a parallel task produced no result")))
        .collect()
}

async fn join_one<R: Send + 'static>(
    set: &mut JoinSet<(usize, anyhow::Result<R>)>,
    out: &mut [Option<R>],
) -> anyhow::Result<()> {
    match set.join_next().await {
        Some(Ok((i, r))) => {
            out[i] = Some(r?);
            Ok(())
        }
        Some(Err(e)) => Err(anyhow!("a bench task failed: {e}")),
        None => Ok(()),
    }
}

/// Connects and authenticates as the server admin.
///
/// # Errors
/// When the server cannot be reached or the token is refused.
pub async fn admin(cfg: &ClientConfig, token: &str) -> anyhow::Result<Connection> {
    let conn = chat_client::connect(cfg)
        .await
        .with_context(|| format!("cannot connect to {}", cfg.server))?;
    let me = conn
        .authenticate(token)
        .await
        .context("the admin token was refused")?;
    if !me.is_admin() {
        anyhow::bail!(
            "{} is not a server admin; chatctl bench needs an admin token to create its accounts",
            me.author.username
        );
    }
    Ok(conn)
}

/// Creates `n` token-only accounts named `<prefix>-u<i>`; those for which
/// `admin(i)` holds are server admins (exempt from the send rate limit).
///
/// # Errors
/// The first refused creation (e.g. `Forbidden`, `Conflict`).
pub async fn create_accounts(
    admin: &Connection,
    prefix: &str,
    n: usize,
    make_admin: impl Fn(usize) -> bool,
    limit: usize,
) -> anyhow::Result<Vec<Account>> {
    let items: Vec<(String, bool)> = (0..n)
        .map(|i| (format!("{prefix}-u{i}"), make_admin(i)))
        .collect();
    let progress = crate::progress::bar(n as u64, "creating bench accounts");
    let created = par(items, limit, |_, (name, is_admin)| {
        let admin = admin.clone();
        let progress = progress.clone();
        async move {
            admin
                .create_user(&name, None, "", "bench", is_admin)
                .await
                .with_context(|| format!("cannot create bench account {name}"))?;
            let (_, token) = admin
                .create_token(&name, "chatctl bench")
                .await
                .with_context(|| format!("cannot create a token for {name}"))?;
            progress.inc(1);
            Ok(Account { name, token })
        }
    })
    .await;
    progress.finish_and_clear();
    created
}

/// Connects and authenticates every account, account `i` to node
/// `i % nodes`, at most `limit` at a time, recording each one's
/// connect-to-authenticated time.
///
/// # Errors
/// The first failed connection.
pub async fn connect_all(
    nodes: &Nodes,
    accounts: &[Account],
    limit: usize,
    times: &mut Latencies,
) -> anyhow::Result<Vec<Client>> {
    let nodes = Arc::new(nodes.clone());
    let progress = crate::progress::bar(accounts.len() as u64, "connecting bench clients");
    let got = par(accounts.to_vec(), limit, |i, account| {
        let nodes = nodes.clone();
        let progress = progress.clone();
        async move {
            let cfg = nodes.config_for(i);
            let start = Instant::now();
            let conn = connect_as(cfg, &account).await?;
            progress.inc(1);
            Ok((Client { account, conn }, start.elapsed()))
        }
    })
    .await;
    progress.finish_and_clear();
    let got = got?;
    Ok(got
        .into_iter()
        .map(|(client, took)| {
            times.record(took);
            client
        })
        .collect())
}

/// One connection authenticated as `account`.
///
/// # Errors
/// When connecting or authenticating fails.
pub async fn connect_as(cfg: &ClientConfig, account: &Account) -> anyhow::Result<Connection> {
    let conn = chat_client::connect(cfg)
        .await
        .with_context(|| format!("cannot connect to {}", cfg.server))?;
    conn.authenticate(&account.token)
        .await
        .with_context(|| format!("cannot authenticate as {}", account.name))?;
    Ok(conn)
}

/// Disables the run's accounts (their tokens stop working and their
/// sessions end), counting failures in `report`.
pub async fn retire(admin: &Connection, accounts: &[Account], report: &mut BenchReport) {
    let names: Vec<String> = accounts.iter().map(|a| a.name.clone()).collect();
    let results = par(names, 64, |_, name| {
        let admin = admin.clone();
        async move {
            Ok(admin
                .update_user(&name, UserChange::Disabled(true))
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot disable bench account {name}: {e}")))
        }
    })
    .await;
    match results {
        Ok(results) => results
            .into_iter()
            .filter_map(Result::err)
            .for_each(|e| report.error(e)),
        Err(e) => report.error(e),
    }
}
