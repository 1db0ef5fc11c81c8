//! `POST /tenants/{tenant_id}/entra/sync-object` (AWS_IAM): the body parsed
//! (400 naming the field), the tenant's config read (404 when it has
//! none), the rate limit (429 with `Retry-After`), the run lease for an
//! import's write (waits a few seconds for a running sync, then 409), the
//! engine's answer (200), and a change event when a write was made.

use std::time::Duration;

use entra_sync::events::{AttributeChange, ChangeEvent, ChangeEvents, EventAction, EventCause};
use entra_sync::graph::reader::GraphEntraDirectory;
use entra_sync::graph::tenants::TenantGraphReaders;
use entra_sync::graph::writer::GraphEntraWriter;
use entra_sync::graph::{GraphClient, of_cloud};
use entra_sync::graph_tally::GraphTally;
use entra_sync::import::history::{RunRecord, RunRef, Trigger};
use entra_sync::import::state::{Counts, Mode, RunResult};
use entra_sync::import::{RunHistory, TenantReaders};
use entra_sync::model::{ByCloud, TenantConfig, TenantId};
use entra_sync::on_demand::export_read_properties;
use entra_sync::on_demand::rate::RateLimiter;
use entra_sync::on_demand::{
    ObjectKindAsked, OnDemandError, OnDemandExport, OnDemandImport, RunLeases, SyncObjectAnswer,
    SyncObjectRequest, SyncResult,
};
use entra_sync::ports::TenantConfigs;
use entra_sync::problems::{Direction, ObjectKind};
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::events::DynamoChangeEvents;
use entra_sync::store::on_demand::DynamoOnDemand;
use entra_sync::store::problems::DynamoProblemStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync::wiring::LambdaTenantTokens;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

type HttpResult = Result<Response<Body>, lambda_http::Error>;

/// How long a write waits for a running sync to release the tenant.
const LEASE_WAIT: Duration = Duration::from_secs(5);
const LEASE_POLL: Duration = Duration::from_millis(250);
/// Graph calls stop before API Gateway's 30 s.
const GRAPH_BUDGET: Duration = Duration::from_secs(20);

pub struct SyncObjectRoute {
    pub configs: DynamoIntegrationsStore,
    pub directory: DynamoDirectoryStore,
    pub tokens: LambdaTenantTokens,
    pub graph: ByCloud<GraphClient>,
    pub guards: DynamoOnDemand,
    pub problems: DynamoProblemStore,
    /// The tenant's run history: a real call is a run (`on_demand`).
    pub history: DynamoSyncStateStore,
    pub events: DynamoChangeEvents,
    /// The export's mark property, per cloud (the app's extension).
    pub mark_properties: ByCloud<String>,
}

/// A request that ends before the engine runs, with its answer.
struct Refusal(StatusCode, serde_json::Value, Option<Duration>);

fn refused(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, json!({"error": message.into()}), None)
}

/// The tenant id of `/tenants/{tenant_id}/entra/sync-object`.
fn tenant_of(path: &str) -> Option<&str> {
    path.trim_end_matches('/')
        .strip_prefix("/tenants/")?
        .strip_suffix("/entra/sync-object")
        .filter(|id| !id.contains('/'))
}

impl SyncObjectRoute {
    pub async fn handle(&self, request: Request) -> HttpResult {
        let answer = match self.answer(&request).await {
            Ok(answer) => answer,
            Err(Refusal(status, body, retry_after)) => {
                tracing::info!(status = status.as_u16(), reason = %body["error"], "sync-object refused");
                return respond(status, &body, retry_after);
            }
        };
        respond(StatusCode::OK, &json!(answer), None)
    }

    async fn answer(&self, request: &Request) -> Result<SyncObjectAnswer, Refusal> {
        // API Gateway names the path parameter; the raw path is the
        // fallback (a custom domain's base path would come before it).
        let parameters = request.path_parameters();
        let tenant = parameters
            .first("tenant_id")
            .or_else(|| tenant_of(request.uri().path()))
            .filter(|_| request.method() == Method::POST)
            .ok_or_else(|| refused(StatusCode::NOT_FOUND, "no such route"))?;
        let tenant = TenantId::parse(tenant)
            .map_err(|e| refused(StatusCode::BAD_REQUEST, format!("`tenant_id`: {e}")))?;
        let asked = SyncObjectRequest::parse(request.body().as_ref()).map_err(|e| {
            Refusal(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string(), "field": e.field}),
                None,
            )
        })?;
        let config = self.config(&tenant, &asked).await?;
        self.admit(&tenant).await?;
        // The export takes no run lease: a stream export of the same
        // object meets the export's own guards (the intent to create, the
        // mark, the conditional write-back of the item as it is now).
        let answer = match (asked.direction, asked.dry_run) {
            (Direction::Export, true) => self.run_export(&config, &asked).await?,
            (Direction::Export, false) => self.run_export_recorded(&config, &asked).await?,
            (Direction::Import, true) => self.run(&config, &asked).await?,
            (Direction::Import, false) => self.run_leased(&config, &asked).await?,
        };
        tracing::info!(tenant_id = %tenant, result = ?answer.result, dry_run = answer.dry_run,
            written = answer.written, "sync-object answered");
        if answer.written {
            self.record_event(&tenant, &answer, &asked).await;
        }
        Ok(answer)
    }

    /// The tenant's config with the request's draft over it.
    async fn config(
        &self,
        tenant: &TenantId,
        asked: &SyncObjectRequest,
    ) -> Result<TenantConfig, Refusal> {
        let saved = match self.configs.tenant_config(tenant).await {
            Ok(Some(config)) => config,
            Ok(None) => {
                let message = format!("tenant {tenant} has no Entra ID integration");
                return Err(refused(StatusCode::NOT_FOUND, message));
            }
            Err(err) => return Err(store_failure(&err)),
        };
        if let Some(refusal) = saved.authorisation_refusal() {
            return Err(refused(
                StatusCode::CONFLICT,
                format!("cannot read Entra ID: {refusal}"),
            ));
        }
        let Some(draft) = &asked.draft else {
            return Ok(saved);
        };
        saved.with_draft(draft).map_err(|e| {
            // A key the draft may not hold is the draft's fault; a bad value
            // is its attribute's.
            let field = match e.attribute {
                "draft" => "draft".to_owned(),
                attribute => format!("draft.{attribute}"),
            };
            Refusal(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("`{field}`: {}", e.problem), "field": field}),
                None,
            )
        })
    }

    async fn admit(&self, tenant: &TenantId) -> Result<(), Refusal> {
        match self.guards.admit(tenant, chrono::Utc::now()).await {
            Ok(None) => Ok(()),
            Ok(Some(retry_after)) => {
                let message = "at most 5 sync-object requests per 10 seconds per tenant";
                let mut refusal = refused(StatusCode::TOO_MANY_REQUESTS, message);
                refusal.2 = Some(retry_after);
                Err(refusal)
            }
            Err(err) => Err(store_failure(&err)),
        }
    }

    /// A write under the tenant's run lease: a running sync is waited for
    /// a few seconds, then the request is refused (409).
    async fn run_leased(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
    ) -> Result<SyncObjectAnswer, Refusal> {
        let tenant = &config.tenant_id;
        let holder = format!("on-demand-{}", uuid::Uuid::new_v4());
        let waited_until = tokio::time::Instant::now() + LEASE_WAIT;
        loop {
            match self.guards.try_take(tenant, &holder).await {
                Ok(true) => break,
                Ok(false) if tokio::time::Instant::now() < waited_until => {
                    tokio::time::sleep(LEASE_POLL).await
                }
                Ok(false) => {
                    let message = "a sync of this tenant is running; try again when it has finished (within about a minute)";
                    return Err(refused(StatusCode::CONFLICT, message));
                }
                Err(err) => return Err(store_failure(&err)),
            }
        }
        let answer = self.as_run(config, asked, self.run(config, asked)).await;
        if let Err(err) = self.guards.release(tenant, &holder).await {
            // It expires by itself within a minute.
            tracing::warn!(error = %err, "could not release the run lease after an on-demand sync");
        }
        answer
    }

    async fn run(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
    ) -> Result<SyncObjectAnswer, Refusal> {
        let deadline = tokio::time::Instant::now() + GRAPH_BUDGET;
        let readers = TenantGraphReaders::new(&self.graph, &self.tokens);
        let entra = readers.for_tenant(config, Some(deadline));
        let engine = OnDemandImport {
            directory: &self.directory,
            entra: &entra,
            problems: &self.problems,
            config,
        };
        let answer = match asked.object_kind {
            ObjectKindAsked::User => engine.sync_user(&asked.object, asked.dry_run).await,
            ObjectKindAsked::Group => engine.sync_group(&asked.object, asked.dry_run).await,
        };
        answer.map_err(engine_failure)
    }

    /// A real export of one object, a run of the tenant's history (its
    /// direction export).
    async fn run_export_recorded(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
    ) -> Result<SyncObjectAnswer, Refusal> {
        self.as_run(config, asked, self.run_export(config, asked))
            .await
    }

    /// `work` as a run of the tenant's history, its Graph requests counted.
    async fn as_run(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
        work: impl std::future::Future<Output = Result<SyncObjectAnswer, Refusal>>,
    ) -> Result<SyncObjectAnswer, Refusal> {
        let started_at = chrono::Utc::now();
        let (answer, graph) = entra_sync::graph_tally::counting(async {
            let answer = work.await;
            (answer, entra_sync::graph_tally::tally())
        })
        .await;
        self.record_run(config, asked, (started_at, graph), &answer)
            .await;
        answer
    }

    /// An export of one object, through the export engine's plans.
    async fn run_export(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
    ) -> Result<SyncObjectAnswer, Refusal> {
        let deadline = tokio::time::Instant::now() + GRAPH_BUDGET;
        let client = of_cloud(&self.graph, config.cloud);
        let mark = of_cloud(&self.mark_properties, config.cloud);
        let writer =
            GraphEntraWriter::new(client, self.tokens.for_config(config), mark, Some(deadline));
        let reader =
            GraphEntraDirectory::new(client, self.tokens.for_config(config), Some(deadline))
                .selecting(export_read_properties(config));
        let engine = OnDemandExport {
            directory: &self.directory,
            writer: &writer,
            entra: &reader,
            problems: &self.problems,
            config,
        };
        let answer = match asked.object_kind {
            ObjectKindAsked::User => engine.sync_user(&asked.object, asked.dry_run).await,
            ObjectKindAsked::Group => engine.sync_group(&asked.object, asked.dry_run).await,
        };
        answer.map_err(engine_failure)
    }

    /// The call as a run of the tenant's history (DESIGN 2.14, trigger
    /// `on_demand`); a failure is logged (the call's work is done).
    async fn record_run(
        &self,
        config: &TenantConfig,
        asked: &SyncObjectRequest,
        (started_at, graph): (chrono::DateTime<chrono::Utc>, GraphTally),
        answer: &Result<SyncObjectAnswer, Refusal>,
    ) {
        let run = RunRef {
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at,
            trigger: Trigger::OnDemand,
        };
        let group = asked.object_kind == ObjectKindAsked::Group;
        let mut record = RunRecord::of(run, Mode::Delta, Counts::default(), None);
        record.direction = asked.direction;
        record.completed_at = Some(chrono::Utc::now());
        record.graph = graph;
        match answer {
            Ok(answer) => {
                record.result = Some(RunResult::Ok);
                record.counts = answer.counts(group);
            }
            Err(Refusal(_, body, _)) => {
                record.result = Some(RunResult::Error);
                record.error = body["error"].as_str().map(str::to_owned);
            }
        }
        if let Err(err) = self.history.record_run(&config.tenant_id, &record).await {
            tracing::warn!(error = %err, "could not record the on-demand run in the tenant's history");
        }
    }

    /// The change as an event; a failure is logged (the change is made).
    async fn record_event(
        &self,
        tenant: &TenantId,
        answer: &SyncObjectAnswer,
        asked: &SyncObjectRequest,
    ) {
        let Some(action) = event_action(answer.result, &answer.modified) else {
            return;
        };
        // An export's object is named by its AM id, as its problems are.
        let object_id = match asked.direction {
            Direction::Export => answer.am_id.clone(),
            Direction::Import => answer.object_id.clone(),
        };
        let object_id = object_id.unwrap_or_default();
        let event = ChangeEvent {
            at: chrono::Utc::now(),
            id: uuid::Uuid::new_v4().to_string(),
            direction: asked.direction,
            object_kind: match asked.object_kind {
                ObjectKindAsked::User => ObjectKind::User,
                ObjectKindAsked::Group => ObjectKind::Group,
            },
            display: answer.display.clone().unwrap_or_else(|| object_id.clone()),
            object_id,
            action,
            modified: answer.modified.clone(),
            cause: EventCause::OnDemand,
        };
        if let Err(err) = self.events.record(tenant, &event).await {
            tracing::warn!(error = %err, "could not write the change event of an on-demand sync");
        }
    }
}

/// The event's action: an update that only enables the user is `enable`.
fn event_action(result: SyncResult, modified: &[AttributeChange]) -> Option<EventAction> {
    let only_enabled =
        modified.len() == 1 && modified[0].attribute == "enabled" && modified[0].new == json!(true);
    match result {
        SyncResult::Create => Some(EventAction::Create),
        SyncResult::Update if only_enabled => Some(EventAction::Enable),
        SyncResult::Update | SyncResult::Keep => Some(EventAction::Update),
        SyncResult::Restore => Some(EventAction::Restore),
        SyncResult::Disable => Some(EventAction::Disable),
        SyncResult::Delete => Some(EventAction::Delete),
        SyncResult::NoChange | SyncResult::Skipped => None,
    }
}

fn engine_failure(err: OnDemandError) -> Refusal {
    tracing::warn!(error = %err, "sync-object failed");
    match err {
        OnDemandError::Graph(_) => refused(StatusCode::BAD_GATEWAY, err.to_string()),
        OnDemandError::Store(store) => store_failure(&store),
    }
}

fn store_failure(err: &entra_sync::ports::StoreError) -> Refusal {
    tracing::error!(error = %err, "a store failed during sync-object");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "a store is unavailable; try again",
    )
}

fn respond(
    status: StatusCode,
    body: &serde_json::Value,
    retry_after: Option<Duration>,
) -> HttpResult {
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(wait) = retry_after {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response = response.header(header::RETRY_AFTER, seconds.max(1).to_string());
    }
    Ok(response.body(Body::from(body.to_string()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_is_read_from_the_route_and_other_paths_are_not_it() {
        assert_eq!(tenant_of("/tenants/acme/entra/sync-object"), Some("acme"));
        assert_eq!(tenant_of("/tenants/acme/entra/sync-object/"), Some("acme"));
        assert_eq!(tenant_of("/tenants/a/b/entra/sync-object"), None);
        assert_eq!(tenant_of("/entra/notifications"), None);
    }
}
