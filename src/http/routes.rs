//! One registration per route: a resource module's `register` names each handler once,
//! with its `#[utoipa::path]`, and that one line both serves the route and documents it.
//! The server runs the registrations into actix's service config; the OpenAPI document
//! runs the same registrations into its paths and schemas.

use actix_web::dev::HttpServiceFactory;
use actix_web::web;
use utoipa::openapi::path::{PathItem, PathItemBuilder, Paths, PathsBuilder};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

/// The prefix of the Tidewatch and Prometheus APIs (agents' fixed paths sit at the root).
pub const API_PREFIX: &str = "/api/v1";

/// What `#[utoipa::path]` generates for a handler: its path, methods, operation, tags and
/// the schemas it references (read as utoipa's own `OpenApi` derive reads them).
pub trait Documented:
    utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>
{
}

impl<P> Documented for P where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>
{
}

/// A resource module's registration function.
pub type Register = fn(&mut Registrar<'_>);

/// Where routes are registered: the server's service config or the OpenAPI document.
pub struct Registrar<'a> {
    target: Target<'a>,
}

enum Target<'a> {
    Services {
        root: &'a mut web::ServiceConfig,
        api: Option<actix_web::Scope>,
    },
    Document {
        paths: PathsBuilder,
        schemas: Vec<(String, RefOr<Schema>)>,
    },
}

impl<'a> Registrar<'a> {
    fn services(root: &'a mut web::ServiceConfig) -> Self {
        Self {
            target: Target::Services {
                root,
                api: Some(web::scope(API_PREFIX)),
            },
        }
    }

    /// A route under [`API_PREFIX`].
    pub fn api<H, P>(&mut self, handler: H, _documented_by: P)
    where
        H: HttpServiceFactory + 'static,
        P: Documented,
    {
        match &mut self.target {
            Target::Services { api, .. } => {
                if let Some(scope) = api.take() {
                    *api = Some(scope.service(handler));
                }
            }
            Target::Document { .. } => self.document::<P>(API_PREFIX),
        }
    }

    /// A route at the root: the paths agents and probes use as they are (`/write`,
    /// `/v1/metrics`, `/healthz`).
    pub fn root<H, P>(&mut self, handler: H, _documented_by: P)
    where
        H: HttpServiceFactory + 'static,
        P: Documented,
    {
        match &mut self.target {
            Target::Services { root, .. } => {
                root.service(handler);
            }
            Target::Document { .. } => self.document::<P>(""),
        }
    }

    /// A route that is not part of the API document (the document itself, the web UI).
    pub fn root_undocumented<H: HttpServiceFactory + 'static>(&mut self, handler: H) {
        if let Target::Services { root, .. } = &mut self.target {
            root.service(handler);
        }
    }

    fn document<P: Documented>(&mut self, prefix: &str) {
        let Target::Document { paths, schemas } = &mut self.target else {
            return;
        };
        // As utoipa's own derive reads a path: the operation with its tags.
        let mut operation = P::operation();
        let tags = <P as utoipa::__dev::Tags<'static>>::tags();
        if !tags.is_empty() {
            operation.tags = Some(tags.into_iter().map(str::to_owned).collect());
        }
        let item: PathItem = P::methods()
            .into_iter()
            .fold(PathItemBuilder::new(), |item, method| {
                item.operation(method, operation.clone())
            })
            .build();
        let path = format!("{prefix}{}", P::path());
        *paths = std::mem::take(paths).path(path, item);
        P::schemas(schemas);
    }

    /// Registers the API scope after the root routes (a scope matches its whole prefix).
    fn finish(self) {
        if let Target::Services {
            root,
            api: Some(scope),
        } = self.target
        {
            root.service(scope);
        }
    }
}

/// Runs every registration into a service config (the server, tests).
pub fn serve(cfg: &mut web::ServiceConfig, resources: &[Register]) {
    let mut registrar = Registrar::services(cfg);
    for register in resources {
        register(&mut registrar);
    }
    registrar.finish();
}

/// Runs every registration into OpenAPI paths and the schemas they reference.
pub fn document(resources: &[Register]) -> (Paths, Vec<(String, RefOr<Schema>)>) {
    let mut registrar = Registrar {
        target: Target::Document {
            paths: PathsBuilder::new(),
            schemas: Vec::new(),
        },
    };
    for register in resources {
        register(&mut registrar);
    }
    match registrar.target {
        Target::Document { paths, schemas } => (paths.build(), schemas),
        Target::Services { .. } => (Paths::new(), Vec::new()),
    }
}
