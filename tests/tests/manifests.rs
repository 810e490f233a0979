//! The Kubernetes manifests held to the code: what `kubectl apply -k` would
//! run must be what the binaries read, serve and call.
//!
//! No cluster and no tool is needed: the test reads `k8s/` itself. It follows
//! the parts of kustomize the manifests use for what it checks (`resources`,
//! `components`, `configMapGenerator`, `secretGenerator`, `images`) and leaves patches to
//! `k8s/validate.sh`, which renders every overlay with kustomize and
//! validates the result. So every check here is about the base plus what an
//! overlay generates; the dev overlay's objects (PostgreSQL) join the base.
//!
//! A service joins with one line in [`services`]: its name, and the function
//! that loads its configuration. A one-shot program run as a Job (the load
//! generator, from the component `k8s/components/load`; the dev overlay's
//! catalog loader, docker/tools' scripts) joins in [`jobs`]. The public
//! routes are held to the services' paths twice: the Ingress, and the
//! Gateway API HTTPRoute of `k8s/components/gateway-api` with the dev
//! overlay's Gateway. The token pod (`k8s/overlays/dev/tools/token-pod.json`,
//! which `kubectl run` takes as its overrides) is checked with the dev
//! overlay it runs in. The SLO rules of `k8s/components/slo` must be the
//! ones compose's Prometheus loads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_norway::Value;
use shop_common::config::{ConfigError, Env};
use shop_common::server::HttpConfig;

// ---------------------------------------------------------------------------
// The services and what the test knows about the world around them.

/// How a service's configuration is loaded from an environment map.
#[derive(Clone, Copy)]
enum Loader {
    /// The service's own code: `Config::from_env` (every variable it
    /// reads) and the paths it serves (its OpenAPI document's, or for the
    /// storefront, whose pages are in no OpenAPI document, its router's).
    Crate {
        config: fn(Env) -> Result<HttpConfig, ConfigError>,
        /// Every variable its configuration reads, as `Env` records them.
        names: fn() -> BTreeSet<String>,
        paths: fn() -> Vec<String>,
    },
}

/// A service as the manifests deploy it.
#[derive(Clone, Copy)]
struct Service {
    name: &'static str,
    load: Loader,
}

/// A service crate's `Config::from_env` (returning its HTTP part, or every
/// error) and the paths of `routes::openapi_router()`, or the paths `paths`
/// returns.
macro_rules! config_of {
    ($krate:ident) => {
        config_of!(
            $krate,
            paths: || {
                let (_, document) = $krate::routes::openapi_router().split_for_parts();
                document.paths.paths.into_keys().collect()
            }
        )
    };
    ($krate:ident, paths: $paths:expr) => {
        Loader::Crate {
            config: |mut env| {
                let config = $krate::Config::from_env(&mut env);
                env.finish(config).map(|c| c.http)
            },
            names: || {
                let mut env = Env::from_map(Default::default());
                let _ = $krate::Config::from_env(&mut env);
                env.names_read().into_iter().collect()
            },
            paths: $paths,
        }
    };
}

/// The paths the storefront's router serves: its pages are in no OpenAPI
/// document, so they are read from the `.route("...")` calls of its
/// routes/mod.rs.
fn web_pages() -> Vec<String> {
    let file = "services/web/src/routes/mod.rs";
    let text = read(&root().join(file));
    let paths: Vec<String> = text
        .match_indices(".route(")
        .map(|(at, _)| {
            let rest = &text[at..];
            let start = rest.find('"').expect("a route's path") + 1;
            let end = start + rest[start..].find('"').unwrap();
            rest[start..end].to_owned()
        })
        .collect();
    assert!(
        paths.iter().any(|p| p == "/") && paths.len() > 5,
        "{file}: the scan finds the pages"
    );
    paths
}

/// Every service the manifests deploy. One line each.
fn services() -> Vec<Service> {
    vec![
        Service {
            name: "product",
            load: config_of!(product),
        },
        Service {
            name: "cart",
            load: config_of!(cart),
        },
        Service {
            name: "order",
            load: config_of!(order),
        },
        Service {
            name: "web",
            load: config_of!(web, paths: web_pages),
        },
    ]
}

impl Service {
    fn load(&self, env: Env) -> Result<HttpConfig, ConfigError> {
        match self.load {
            Loader::Crate { config, .. } => config(env),
        }
    }

    /// The variables the service's configuration reads.
    fn names_read(&self) -> BTreeSet<String> {
        match self.load {
            Loader::Crate { names, .. } => names(),
        }
    }
}

/// A one-shot program the manifests run to completion as a Job, held to the
/// same rules as the services. Its configuration is a clap command line or a
/// script's environment, so it is checked by the text of its sources rather
/// than by loading it.
struct Job {
    /// The Job, its container, its ServiceAccount and its pods'
    /// `app.kubernetes.io/name`.
    name: &'static str,
    /// The overlays that render it (a component alone renders nothing).
    overlays: &'static [&'static str],
    /// What it runs.
    program: Program,
    /// The services it calls, each with the variable holding its URL.
    calls: &'static [(&'static str, &'static str)],
    /// Variables it takes from where the services take theirs: (its own,
    /// the services'), so the two sides cannot drift apart.
    shared: &'static [(&'static str, &'static str)],
    /// The variable naming the file with the key it signs tokens with.
    signing_key: &'static str,
    /// Whether a failed run is retried: only when running it again is safe.
    retried: bool,
    /// Variables the code reads that the Job leaves unset on purpose, and why.
    unset_on_purpose: &'static [(&'static str, &'static str)],
}

/// What a Job runs.
enum Program {
    /// A workspace binary in a Shop image (ENTRYPOINT the binary, no
    /// `command`), configured by clap flags and their `env = "..."`.
    Binary {
        /// The image as the manifests name it (the Dockerfile's folder
        /// under `docker/` without the `shop-`), and the binary its
        /// ENTRYPOINT runs.
        image: &'static str,
        binary: &'static str,
        /// Its crate, and the file with its `Args`.
        krate: &'static str,
        cli: &'static str,
    },
    /// Scripts of docker/tools in the PostgreSQL image, as Compose's tools
    /// run them, from copies the overlay mounts from a ConfigMap.
    Tools {
        /// The Compose service that runs the same command.
        compose_service: &'static str,
        /// The scripts it runs (the first is the command), in docker/tools.
        scripts: &'static [&'static str],
        /// The generated ConfigMap with the copies, and each copy's key
        /// and original.
        config_map: &'static str,
        copies: &'static [(&'static str, &'static str)],
        /// The variable bounding how long it waits for the services.
        wait: &'static str,
    },
}

/// Every Job the manifests run. One entry each.
fn jobs() -> Vec<Job> {
    vec![
        Job {
            name: "load",
            overlays: &["dev-load"],
            program: Program::Binary {
                image: "shop-load",
                binary: "shop-load",
                krate: "crates/load",
                cli: "crates/load/src/cli.rs",
            },
            // The APIs; never the storefront.
            calls: &[
                ("product", "SHOP_PRODUCT_URL"),
                ("cart", "SHOP_CART_URL"),
                ("order", "SHOP_ORDER_URL"),
            ],
            shared: &[
                ("SHOP_INTERNAL_TOKEN", "INTERNAL_TOKEN"),
                ("AUTH_ISSUER", "AUTH_ISSUER"),
                ("AUTH_AUDIENCE", "AUTH_AUDIENCE"),
            ],
            signing_key: "LOAD_SIGNING_KEY_FILE",
            // A second attempt would load a system the first one already
            // changed.
            retried: false,
            unset_on_purpose: &[(
                "SHOP_GATEWAY_URL",
                "the Job calls each service by its own URL: the audit needs product's \
                 internal API, which no gateway or ingress routes",
            )],
        },
        Job {
            name: "catalog",
            // dev-load and dev-slo are dev plus a component.
            overlays: &["dev", "dev-load", "dev-slo"],
            program: Program::Tools {
                compose_service: "catalog",
                scripts: &["load-catalog.pl", "token.sh"],
                config_map: "shop-tools",
                copies: &[
                    ("load-catalog.pl", "docker/tools/load-catalog.pl"),
                    ("token.sh", "docker/tools/token.sh"),
                    ("catalog.json", "xtask/data/catalog.json"),
                ],
                wait: "PRODUCT_WAIT_SECONDS",
            },
            calls: &[("product", "PRODUCT_URL")],
            shared: &[
                ("AUTH_ISSUER", "AUTH_ISSUER"),
                ("AUTH_AUDIENCE", "AUTH_AUDIENCE"),
            ],
            signing_key: "DEV_PRIVATE_KEY",
            // It creates only the products not listed yet: a retry after a
            // failure half-way finishes the catalog.
            retried: true,
            unset_on_purpose: &[],
        },
    ]
}

impl Job {
    /// The variables its code reads: clap's `env = "..."` in its crate, or
    /// the environment its scripts read.
    fn variables_read(&self) -> BTreeSet<String> {
        match &self.program {
            Program::Binary { krate, .. } => {
                variables_read(&rust_files(&root().join(krate).join("src")))
            }
            Program::Tools { scripts, .. } => script_variables(scripts),
        }
    }

    /// The program, for messages.
    fn program_name(&self) -> &'static str {
        match &self.program {
            Program::Binary { binary, .. } => binary,
            Program::Tools { scripts, .. } => scripts[0],
        }
    }
}

/// Every overlay in k8s/overlays; dev-load is dev plus the component
/// k8s/components/load, dev-slo dev plus k8s/components/slo.
const OVERLAYS: &[&str] = &["dev", "dev-load", "dev-slo", "prod"];

/// How long shop-load may need beyond the load itself and the audit's settle
/// timeout: creating its catalog before, archiving it after.
const LOAD_SET_UP_AND_CLEAN_UP_SECS: f64 = 60.0;

/// Variables the code reads that a Deployment leaves unset on purpose, and
/// why.
const UNSET_ON_PURPOSE: &[(&str, &str)] = &[
    (
        "AUTH_JWT_PUBLIC_KEYS_DIR",
        "one key (AUTH_JWT_PUBLIC_KEY); docs/kubernetes.md shows a rotation with a keys directory",
    ),
    (
        "AUTH_MAX_TOKEN_TTL",
        "the default (a day) fits; set it where tokens must live shorter",
    ),
    (
        "AUTH_JWT_PUBLIC_KEY_FILE",
        "AUTH_JWT_PUBLIC_KEY is set from the shop-auth ConfigMap instead",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT is set instead",
    ),
    (
        "ORDER_FAULT_POINT",
        "fault injection for the crash-recovery tests, never in a deployment",
    ),
    (
        "WEB_DEV_SIGNING_KEY_FILE",
        "the dev overlay sets WEB_DEV_SIGNING_KEY from its Secret; other overlays have no dev sign-in",
    ),
    (
        "WEB_DEV_SIGNING_KEY",
        "only the dev overlay has dev sign-in, and sets it from its Secret",
    ),
    (
        "WEB_TRACE_URL",
        "the tracing UI's public address is the cluster operator's (no overlay runs one); \
         unset, each page's trace link says how to turn tracing on",
    ),
];

/// Peers outside the namespace, as the NetworkPolicies name them: namespace,
/// the labels of its pods (a policy must select them by some of these), and
/// what the test calls them.
struct External {
    id: &'static str,
    namespace: &'static str,
    labels: &'static [(&'static str, &'static str)],
}

const EXTERNALS: &[External] = &[
    External {
        id: "ingress-controller",
        namespace: "ingress-nginx",
        labels: &[("app.kubernetes.io/name", "ingress-nginx")],
    },
    // Envoy Gateway's Envoy pods for the dev overlay's Gateway `shop` in the
    // namespace `shop`: Envoy Gateway runs them in its own namespace and
    // labels them with the Gateway they serve.
    External {
        id: "gateway",
        namespace: ENVOY_GATEWAY_NAMESPACE,
        labels: &[
            ("app.kubernetes.io/name", "envoy"),
            ("app.kubernetes.io/component", "proxy"),
            ("app.kubernetes.io/managed-by", "envoy-gateway"),
            ("gateway.envoyproxy.io/owning-gateway-name", "shop"),
            ("gateway.envoyproxy.io/owning-gateway-namespace", "shop"),
        ],
    },
    External {
        id: "prometheus",
        namespace: "monitoring",
        labels: &[("app.kubernetes.io/name", "prometheus")],
    },
    External {
        id: "otel-collector",
        namespace: "observability",
        labels: &[("app.kubernetes.io/name", "otel-collector")],
    },
    External {
        id: "dns",
        namespace: "kube-system",
        labels: &[("k8s-app", "kube-dns")],
    },
];

/// Envoy Gateway, the Gateway API implementation the dev overlay's Gateway
/// is for: the namespace its install manifest runs it (and, by default,
/// every Gateway's proxies) in, and its GatewayClass controller.
const ENVOY_GATEWAY_NAMESPACE: &str = "envoy-gateway-system";
const ENVOY_GATEWAY_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// The admin paths the probes use, and what the admin router answers for
/// each without a database (`/readyz` checks the database: 503, not 404).
const LIVEZ: &str = "/livez";
const READYZ: &str = "/readyz";

/// The UID the runtime image runs as.
const RUN_AS_USER: i64 = 65532;

/// What the prod overlay expects the operator to create (it generates no
/// credentials).
const PROD_EXTERNAL_OBJECTS: &[&str] = &[
    "product-db",
    "cart-db",
    "order-db",
    "web-db",
    "shop-internal",
    "shop-auth",
];

// ---------------------------------------------------------------------------
// Reading the manifests.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_all(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (str_of(k).to_owned(), str_of(v).to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `selector` (a `matchLabels` map) selects `pod`.
fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// One generated ConfigMap or Secret: its keys and values.
type Data = BTreeMap<String, String>;

/// A kustomization directory, read the way kustomize would for what the
/// test needs.
#[derive(Default)]
struct Tree {
    objects: Vec<Value>,
    config_maps: BTreeMap<String, Data>,
    secrets: BTreeMap<String, Data>,
    /// Image name -> tag, from `images`.
    image_tags: BTreeMap<String, String>,
    /// Generated ConfigMaps and Secrets whose names get no content hash
    /// (`options: disableNameSuffixHash`), so that objects outside
    /// kustomize can name them.
    unhashed: BTreeSet<String>,
    /// The namespace the kustomization puts everything in.
    namespace: String,
}

impl Tree {
    fn load(dir: &Path) -> Self {
        let mut tree = Tree::default();
        tree.add(dir);
        let k = parse_all(&dir.join("kustomization.yaml")).remove(0);
        tree.namespace = str_of(&k["namespace"]).to_owned();
        tree
    }

    fn add(&mut self, dir: &Path) {
        let k = parse_all(&dir.join("kustomization.yaml"))
            .pop()
            .unwrap_or_else(|| panic!("{}: empty kustomization", dir.display()));
        for resource in seq(&k["resources"]) {
            let path = dir.join(str_of(resource));
            if path.is_dir() {
                self.add(&path);
            } else {
                self.objects.extend(parse_all(&path));
            }
        }
        // Inline patches, as far as the overlays use them: a Deployment's
        // container environment, merged by variable name (strategic merge).
        // Patches from files (prod's) change nothing this test reads.
        for patch in seq(&k["patches"]).iter().filter(|p| !p["patch"].is_null()) {
            let p: Value = serde_norway::from_str(str_of(&patch["patch"]))
                .unwrap_or_else(|e| panic!("{}: a patch: {e}", dir.display()));
            let (kind, name) = (str_of(&p["kind"]), str_of(&p["metadata"]["name"]));
            let object = self
                .objects
                .iter_mut()
                .find(|o| str_of(&o["kind"]) == kind && str_of(&o["metadata"]["name"]) == name)
                .unwrap_or_else(|| panic!("{}: patch of unknown {kind} {name}", dir.display()));
            for patched in seq(&p["spec"]["template"]["spec"]["containers"]) {
                let containers = object
                    .get_mut("spec")
                    .and_then(|v| v.get_mut("template"))
                    .and_then(|v| v.get_mut("spec"))
                    .and_then(|v| v.get_mut("containers"))
                    .and_then(Value::as_sequence_mut)
                    .expect("a pod template");
                let container = containers
                    .iter_mut()
                    .find(|c| c["name"] == patched["name"])
                    .expect("the patched container exists");
                let env = container
                    .get_mut("env")
                    .and_then(Value::as_sequence_mut)
                    .expect("the container has env");
                for var in seq(&patched["env"]) {
                    match env.iter_mut().find(|e| e["name"] == var["name"]) {
                        Some(e) => *e = var.clone(),
                        None => env.push(var.clone()),
                    }
                }
            }
        }
        // A Component is a kustomization too; what this test follows of it
        // (resources, generators, images) works the same way.
        for component in seq(&k["components"]) {
            self.add(&dir.join(str_of(component)));
        }
        for (key, target) in [
            ("configMapGenerator", &mut self.config_maps),
            ("secretGenerator", &mut self.secrets),
        ] {
            for generator in seq(&k[key]) {
                let name = str_of(&generator["name"]).to_owned();
                if generator["options"]["disableNameSuffixHash"].as_bool() == Some(true) {
                    self.unhashed.insert(name.clone());
                }
                let mut data = Data::new();
                for literal in seq(&generator["literals"]) {
                    let (k, v) = str_of(literal)
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{name}: literal without '='"));
                    data.insert(k.to_owned(), v.to_owned());
                }
                for file in seq(&generator["files"]) {
                    let file = str_of(file);
                    let (key, path) = file.split_once('=').unwrap_or_else(|| {
                        (Path::new(file).file_name().unwrap().to_str().unwrap(), file)
                    });
                    data.insert(key.to_owned(), read(&dir.join(path)));
                }
                match str_of(&generator["behavior"]) {
                    "merge" => target
                        .get_mut(&name)
                        .unwrap_or_else(|| panic!("{name}: merge into nothing"))
                        .extend(data),
                    "replace" => {
                        target.insert(name, data);
                    }
                    _ => assert!(
                        target.insert(name.clone(), data).is_none(),
                        "{name} generated twice"
                    ),
                }
            }
        }
        for image in seq(&k["images"]) {
            self.image_tags.insert(
                str_of(&image["name"]).to_owned(),
                str_of(&image["newTag"]).to_owned(),
            );
        }
    }

    fn all(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .iter()
            .filter(move |o| str_of(&o["kind"]) == kind)
    }

    fn one(&self, kind: &str, name: &str) -> &Value {
        let mut found = self
            .all(kind)
            .filter(|o| str_of(&o["metadata"]["name"]) == name);
        let one = found
            .next()
            .unwrap_or_else(|| panic!("no {kind} named {name}"));
        assert!(found.next().is_none(), "two {kind}s named {name}");
        one
    }

    /// Deployments, StatefulSets and Jobs: name, pod labels, pod spec.
    fn workloads(&self) -> Vec<(String, BTreeMap<String, String>, &Value)> {
        self.objects
            .iter()
            .filter(|o| matches!(str_of(&o["kind"]), "Deployment" | "StatefulSet" | "Job"))
            .map(|o| {
                let template = &o["spec"]["template"];
                (
                    str_of(&o["metadata"]["name"]).to_owned(),
                    labels(&template["metadata"]["labels"]),
                    &template["spec"],
                )
            })
            .collect()
    }

    fn deployment(&self, service: &str) -> &Value {
        self.one("Deployment", service)
    }

    /// Whether the workload called `name` is a Job.
    fn is_job(&self, name: &str) -> bool {
        self.all("Job")
            .any(|j| str_of(&j["metadata"]["name"]) == name)
    }
}

fn overlay(name: &str) -> Tree {
    Tree::load(&root().join("k8s/overlays").join(name))
}

/// A Deployment's or a Job's container (both keep the pod in spec.template).
fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    seq(&workload["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|c| str_of(&c["name"]) == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn container_port(container: &Value, name: &str) -> u16 {
    seq(&container["ports"])
        .iter()
        .find(|p| str_of(&p["name"]) == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port named {name}")) as u16
}

/// Placeholder values for what an overlay expects to exist already.
/// A public key nobody holds the private half of (it was thrown away).
const OTHER_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQRAIKH0/uBtgYF9efFDifWI+iI5g
yaeIMKPlkR4r02Rjfdxv5+Z8HAwFbKnW7g3OOt+lYmmJZ3AloHCODSa95w==
-----END PUBLIC KEY-----
";

fn placeholder(service: &str, variable: &str) -> String {
    match variable {
        "DATABASE_URL" => {
            format!("postgres://{service}:placeholder@database.invalid:5432/{service}")
        }
        "INTERNAL_TOKEN" => "x".repeat(shop_common::auth::MIN_INTERNAL_TOKEN_LEN),
        // Any EC public key but the development one, which a deployment
        // without DEVELOPMENT_MODE refuses.
        "AUTH_JWT_PUBLIC_KEY" => OTHER_PUBLIC_KEY.to_owned(),
        _ => "placeholder".to_owned(),
    }
}

/// A container's environment as the kubelet would build it; values from
/// objects the overlay does not generate become placeholders, and their
/// names are returned.
fn environment(
    tree: &Tree,
    service: &str,
    container: &Value,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut env = BTreeMap::new();
    let mut external = BTreeSet::new();
    for source in seq(&container["envFrom"]) {
        let name = str_of(&source["configMapRef"]["name"]);
        let data = tree
            .config_maps
            .get(name)
            .unwrap_or_else(|| panic!("{service}: envFrom names {name}, which is not generated"));
        env.extend(data.clone());
    }
    for var in seq(&container["env"]) {
        let name = str_of(&var["name"]).to_owned();
        let from = &var["valueFrom"];
        let value = if let Some(v) = var["value"].as_str() {
            // $(NAME) refers to a variable defined before.
            let mut v = v.to_owned();
            for (k, val) in &env {
                v = v.replace(&format!("$({k})"), val);
            }
            v
        } else if !from["fieldRef"].is_null() {
            format!("<{}>", str_of(&from["fieldRef"]["fieldPath"]))
        } else {
            let (generated, reference) = if !from["secretKeyRef"].is_null() {
                (&tree.secrets, &from["secretKeyRef"])
            } else if !from["configMapKeyRef"].is_null() {
                (&tree.config_maps, &from["configMapKeyRef"])
            } else {
                panic!("{service}: {name} has no value and no known source");
            };
            let object = str_of(&reference["name"]);
            match generated.get(object) {
                Some(data) => data
                    .get(str_of(&reference["key"]))
                    .unwrap_or_else(|| panic!("{service}: {name}: {object} has no such key"))
                    .clone(),
                None => {
                    external.insert(object.to_owned());
                    placeholder(service, &name)
                }
            }
        };
        env.insert(name, value);
    }
    (env, external)
}

/// The variables a clap binary reads: every `env = "NAME"` in its sources
/// (a flag's variable, as shop-load declares them). The services' own
/// reads come from `Env` itself ([`Service::names_read`]).
fn variables_read(files: &[PathBuf]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in files {
        let text = read(file);
        for (at, _) in text.match_indices("env = \"") {
            let rest = &text[at + "env = \"".len()..];
            names.insert(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    names
}

/// The variables scripts of docker/tools read: Perl's `$ENV{NAME}` and a
/// shell's `${NAME:-default}` (names in capitals: the scripts' own
/// variables are in lower case).
fn script_variables(scripts: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for script in scripts {
        let text = read(&root().join("docker/tools").join(script));
        for (open, close) in [("$ENV{", "}"), ("${", ":-")] {
            for (at, _) in text.match_indices(open) {
                let rest = &text[at + open.len()..];
                let Some(end) = rest.find(close) else {
                    continue;
                };
                let name = &rest[..end];
                if name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// The default a shell script gives a variable (`${NAME:-default}`).
fn script_default(script: &str, variable: &str) -> String {
    let text = read(&root().join("docker/tools").join(script));
    let open = format!("${{{variable}:-");
    let at = text
        .find(&open)
        .unwrap_or_else(|| panic!("{script} gives {variable} no default"));
    let rest = &text[at + open.len()..];
    rest[..rest.find('}').unwrap()].to_owned()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The long flags of a clap `Args` struct, read from its fields (clap
/// spells `settle_timeout` as `--settle-timeout` unless `long = "..."` names
/// it), with the text of each field's attributes (its `default_value`).
fn cli_flags(cli: &str) -> BTreeMap<String, String> {
    let text = read(&root().join(cli));
    let start = text
        .find("pub struct Args {")
        .unwrap_or_else(|| panic!("{cli}: no `pub struct Args`"));
    let body = &text[start..start + text[start..].find("\n}").unwrap()];
    let mut flags = BTreeMap::new();
    let mut attributes = String::new();
    for line in body.lines().skip(1).map(str::trim) {
        if let Some(field) = line
            .strip_prefix("pub ")
            .and_then(|rest| rest.split_once(':'))
            .map(|(name, _)| name)
        {
            let long = match attributes.split_once("long = \"") {
                Some((_, rest)) => rest[..rest.find('"').unwrap()].to_owned(),
                None => field.replace('_', "-"),
            };
            flags.insert(format!("--{long}"), std::mem::take(&mut attributes));
        } else if !line.starts_with("///") {
            attributes.push_str(line);
        }
    }
    assert!(flags.len() > 3, "{cli}: the scan finds the flags");
    flags
}

/// A duration as shop-load parses it (`500ms`, `15s`, `2m`, `1h`; a bare
/// number is seconds), in seconds.
fn seconds(text: &str) -> f64 {
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(at);
    let n: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a duration"));
    n * match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => panic!("`{text}`: unknown unit"),
    }
}

// ---------------------------------------------------------------------------
// The checks.

#[test]
fn a_service_in_the_workspace_is_checked_with_its_own_config() {
    let deployed: BTreeSet<_> = overlay("dev")
        .all("Deployment")
        .map(|d| str_of(&d["metadata"]["name"]).to_owned())
        .collect();
    let listed: BTreeSet<_> = services().iter().map(|s| s.name.to_owned()).collect();
    assert_eq!(deployed, listed, "services() lists what k8s/base deploys");
    for service in services() {
        let has_crate = root()
            .join("services")
            .join(service.name)
            .join("Cargo.toml")
            .exists();
        assert!(
            has_crate,
            "services/{} is deployed but has no crate",
            service.name
        );
    }
    // The same for Jobs: each one an entry of jobs(), run by the overlays it
    // names, whose binary its crate builds or whose scripts docker/tools has.
    let on_disk: BTreeSet<_> = std::fs::read_dir(root().join("k8s/overlays"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<_> = OVERLAYS.iter().map(|o| o.to_string()).collect();
    assert_eq!(on_disk, listed, "OVERLAYS lists k8s/overlays");
    for overlay_name in OVERLAYS {
        let run: BTreeSet<_> = overlay(overlay_name)
            .all("Job")
            .map(|j| str_of(&j["metadata"]["name"]).to_owned())
            .collect();
        let listed: BTreeSet<_> = jobs()
            .iter()
            .filter(|j| j.overlays.contains(overlay_name))
            .map(|j| j.name.to_owned())
            .collect();
        assert_eq!(
            run, listed,
            "jobs() lists what k8s/overlays/{overlay_name} runs"
        );
    }
    for job in jobs() {
        match job.program {
            Program::Binary { binary, krate, .. } => {
                let manifest = read(&root().join(krate).join("Cargo.toml"));
                let name = format!("name = \"{binary}\"");
                assert!(
                    manifest
                        .split("[[bin]]")
                        .skip(1)
                        .any(|bin| bin.lines().any(|l| l.trim() == name)),
                    "{krate}/Cargo.toml builds the binary {binary}"
                );
            }
            Program::Tools { scripts, .. } => {
                for script in scripts {
                    assert!(
                        root().join("docker/tools").join(script).exists(),
                        "{}: docker/tools/{script}",
                        job.name
                    );
                }
            }
        }
    }
}

#[test]
fn every_deployment_satisfies_its_service_config() {
    for overlay_name in OVERLAYS.iter().copied() {
        let tree = overlay(overlay_name);
        let mut external = BTreeSet::new();
        for service in services() {
            let (env, ext) = environment(
                &tree,
                service.name,
                container(tree.deployment(service.name), service.name),
            );
            external.extend(ext);
            if let Err(e) = service.load(Env::from_map(env.into_iter().collect())) {
                panic!(
                    "{overlay_name}: the {} Deployment does not start: {e}",
                    service.name
                );
            }
        }
        for job in jobs().iter().filter(|j| j.overlays.contains(&overlay_name)) {
            let job_object = tree.one("Job", job.name);
            let (_, ext) = environment(&tree, job.name, container(job_object, job.name));
            external.extend(ext);
        }
        match overlay_name {
            // The prod overlay generates no credentials; what it needs is
            // listed where operators read it.
            "prod" => {
                assert!(tree.secrets.is_empty(), "prod generates Secrets");
                let expected: BTreeSet<_> = PROD_EXTERNAL_OBJECTS
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                assert_eq!(external, expected, "prod's external objects");
                let text = read(&root().join("k8s/overlays/prod/kustomization.yaml"));
                for name in PROD_EXTERNAL_OBJECTS {
                    assert!(text.contains(name), "prod kustomization.yaml names {name}");
                }
            }
            // The dev overlays apply on an empty cluster: they generate
            // everything the pods reference.
            _ => assert!(
                external.is_empty(),
                "{overlay_name} references {external:?}"
            ),
        }
    }
}

#[test]
fn deployments_set_exactly_the_variables_the_code_reads() {
    let tree = overlay("dev");
    for service in services() {
        let read_by_code = service.names_read();
        assert!(
            read_by_code.contains("DATABASE_URL"),
            "the scan finds reads"
        );
        let deployment = tree.deployment(service.name);
        let (env, _) = environment(&tree, service.name, container(deployment, service.name));
        let set: BTreeSet<_> = env.keys().cloned().collect();

        for name in &read_by_code {
            assert!(
                set.contains(name) || UNSET_ON_PURPOSE.iter().any(|(n, _)| n == name),
                "{}: the code reads {name}; set it in k8s/base/{}",
                service.name,
                service.name
            );
        }
        // The other way round: a variable nobody reads is a typo or a leftover.
        let referenced: BTreeSet<_> = seq(&container(deployment, service.name)["env"])
            .iter()
            .filter_map(|v| v["value"].as_str())
            .flat_map(|v| {
                v.split("$(")
                    .skip(1)
                    .filter_map(|s| s.split_once(')').map(|(n, _)| n.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        // A variable whose name is built at run time (a peer's `PRODUCT_*`
        // settings) counts as read when a bad value of it is refused.
        let refused = |name: &str| {
            let mut bad = env.clone();
            bad.insert(name.to_owned(), "\u{1}not-a-value".to_owned());
            match service.load(Env::from_map(bad.into_iter().collect())) {
                Ok(_) => false,
                Err(e) => e.0.iter().any(|line| line.contains(name)),
            }
        };
        for name in &set {
            let known = read_by_code.contains(name)
                // Read by the OpenTelemetry SDK itself.
                || name.starts_with("OTEL_")
                // Only there to be interpolated into another variable.
                || referenced.contains(name)
                || refused(name);
            assert!(known, "{}: sets {name}, which no code reads", service.name);
        }
    }
    // A Job's binary reads its variables through clap, its scripts from
    // their environment: exactly those are set, apart from the ones left
    // unset on purpose.
    for job in jobs() {
        let tree = overlay(job.overlays[0]);
        let read_by_code = job.variables_read();
        assert!(
            !read_by_code.is_empty(),
            "{}: the scan finds reads",
            job.name
        );
        let job_object = tree.one("Job", job.name);
        let c = container(job_object, job.name);
        let (env, _) = environment(&tree, job.name, c);
        let set: BTreeSet<_> = env.keys().cloned().collect();
        let unset: BTreeSet<_> = job
            .unset_on_purpose
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        for name in &unset {
            assert!(
                read_by_code.contains(name),
                "{}: {name} is unset on purpose, but no code reads it any more",
                job.name
            );
        }
        for name in &read_by_code {
            assert!(
                set.contains(name) || unset.contains(name),
                "{}: {} reads {name}; set it in the Job, or say why not in jobs()",
                job.name,
                job.program_name()
            );
        }
        for name in &set {
            assert!(
                read_by_code.contains(name),
                "{}: sets {name}, which {} does not read",
                job.name,
                job.program_name()
            );
        }
    }
}

#[test]
fn ports_probes_and_shutdown_timing_match_the_binary() {
    let tree = overlay("dev");
    for service in services() {
        let deployment = tree.deployment(service.name);
        let c = container(deployment, service.name);
        let (env, _) = environment(&tree, service.name, c);
        let http = service
            .load(Env::from_map(env.into_iter().collect()))
            .expect("config loads");
        let name = service.name;
        assert_eq!(
            container_port(c, "http"),
            http.addr.port(),
            "{name}: API port"
        );
        assert_eq!(
            container_port(c, "admin"),
            http.admin_addr.port(),
            "{name}: admin port"
        );
        assert_eq!(seq(&c["ports"]).len(), 2, "{name}: only the two ports");

        for (probe, path) in [
            ("startupProbe", LIVEZ),
            ("readinessProbe", READYZ),
            ("livenessProbe", LIVEZ),
        ] {
            let get = &c[probe]["httpGet"];
            assert_eq!(str_of(&get["path"]), path, "{name}: {probe} path");
            assert_eq!(
                str_of(&get["port"]),
                "admin",
                "{name}: {probe} on the admin port"
            );
        }
        let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            str_of(&annotations["prometheus.io/port"]),
            http.admin_addr.port().to_string(),
            "{name}: scrape port"
        );
        assert_eq!(str_of(&annotations["prometheus.io/path"]), "/metrics");

        // SIGTERM comes after the preStop sleep; the binary then waits the
        // drain delay and gives requests the shutdown timeout. The kubelet
        // must not kill it before.
        let sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .expect("a native preStop sleep");
        let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("terminationGracePeriodSeconds");
        let needed = sleep as f64 + (http.drain_delay + http.shutdown_timeout).as_secs_f64();
        assert!(
            grace as f64 >= needed + 5.0,
            "{name}: grace {grace}s < preStop {sleep}s + drain + shutdown timeout + 5s"
        );
        let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
        assert_eq!(
            rolling["maxUnavailable"].as_u64(),
            Some(0),
            "{name}: maxUnavailable"
        );
        assert!(
            deployment["spec"]["replicas"].is_null(),
            "{name}: the HPA owns the replica count"
        );
    }
}

#[tokio::test]
async fn the_admin_router_serves_the_probe_paths() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    // Nothing listens there: readiness reports the database down.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let admin = shop_common::health::router(shop_common::health::AdminState {
        metrics: shop_common::metrics::Metrics::new("manifests"),
        readiness: Default::default(),
        pool,
    });
    for (path, expected) in [
        (LIVEZ, StatusCode::OK),
        (READYZ, StatusCode::SERVICE_UNAVAILABLE),
        ("/metrics", StatusCode::OK),
    ] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let status = admin.clone().oneshot(request).await.unwrap().status();
        assert_eq!(status, expected, "GET {path} on the admin port");
    }
}

#[test]
fn every_pod_is_hardened() {
    for overlay_name in OVERLAYS.iter().copied() {
        let tree = overlay(overlay_name);
        let namespace = tree.one("Namespace", "shop");
        let ns_labels = labels(&namespace["metadata"]["labels"]);
        assert_eq!(
            ns_labels
                .get("pod-security.kubernetes.io/enforce")
                .map(String::as_str),
            Some("restricted"),
            "{overlay_name}: the namespace enforces restricted"
        );
        for (name, _, pod) in tree.workloads() {
            let at = format!("{overlay_name}/{name}");
            // A Job serves nothing and ends by itself: nothing to probe.
            hardened(&at, pod, !tree.is_job(&name));
            assert_eq!(
                str_of(&pod["serviceAccountName"]),
                name,
                "{at}: own account"
            );
            tree.one("ServiceAccount", &name);
        }
        // The images' user (`USER 65532:65532` in every Dockerfile).
        let ours = services()
            .iter()
            .map(|s| ("Deployment", s.name))
            .chain(
                jobs()
                    .iter()
                    .filter(|j| j.overlays.contains(&overlay_name))
                    .map(|j| ("Job", j.name)),
            )
            .collect::<Vec<_>>();
        for (kind, name) in ours {
            let pod = &tree.one(kind, name)["spec"]["template"]["spec"];
            assert_eq!(
                pod["securityContext"]["runAsUser"].as_i64(),
                Some(RUN_AS_USER),
                "{overlay_name}/{name}"
            );
        }
    }
}

/// A pod spec meets the restricted Pod Security profile and the suite's own
/// rules: non-root, seccomp, no API token, and in each container no
/// privilege escalation, no capabilities, a read-only root filesystem,
/// requests and limits, and (for what serves) the three probes.
fn hardened(at: &str, pod: &Value, probes: bool) {
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{at}");
    assert_eq!(
        str_of(&sc["seccompProfile"]["type"]),
        "RuntimeDefault",
        "{at}"
    );
    assert_eq!(
        pod["automountServiceAccountToken"].as_bool(),
        Some(false),
        "{at}"
    );
    let containers: Vec<_> = seq(&pod["containers"])
        .iter()
        .chain(seq(&pod["initContainers"]))
        .collect();
    assert!(!containers.is_empty(), "{at}: containers");
    for c in containers {
        let csc = &c["securityContext"];
        assert_eq!(
            csc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{at}"
        );
        assert_eq!(csc["readOnlyRootFilesystem"].as_bool(), Some(true), "{at}");
        assert_eq!(
            seq(&csc["capabilities"]["drop"]),
            [Value::from("ALL")],
            "{at}"
        );
        for key in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    !c["resources"][key][resource].is_null(),
                    "{at}: {key}.{resource}"
                );
            }
        }
        if probes {
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                assert!(!c[probe].is_null(), "{at}: {probe}");
            }
        }
    }
}

#[test]
fn services_hpas_and_pdbs_select_their_pods() {
    // dev-load too: no Service may select the load pods.
    for overlay_name in ["dev", "dev-load"] {
        services_hpas_and_pdbs_select_their_pods_in(&overlay(overlay_name));
    }
}

fn services_hpas_and_pdbs_select_their_pods_in(tree: &Tree) {
    let workloads = tree.workloads();
    for svc in tree.all("Service") {
        let name = str_of(&svc["metadata"]["name"]);
        let selector = labels(&svc["spec"]["selector"]);
        assert!(!selector.is_empty(), "Service {name} has a selector");
        let matched: Vec<_> = workloads
            .iter()
            .filter(|(_, pod, _)| selects(&selector, pod))
            .collect();
        assert_eq!(
            matched.len(),
            1,
            "Service {name} selects one workload's pods"
        );
        let (workload, _, pod) = matched[0];
        assert_eq!(workload, name, "Service {name} is named after its workload");
        let c = &seq(&pod["containers"])[0];
        for port in seq(&svc["spec"]["ports"]) {
            let target = str_of(&port["targetPort"]);
            let number = container_port(c, target);
            assert_eq!(
                port["port"].as_u64(),
                Some(number as u64),
                "{name}: {target}"
            );
        }
    }
    for service in services() {
        let deployment = tree.deployment(service.name);
        let pod = labels(&deployment["spec"]["template"]["metadata"]["labels"]);
        let selector = labels(&deployment["spec"]["selector"]["matchLabels"]);
        assert!(
            selects(&selector, &pod),
            "{}: Deployment selector",
            service.name
        );
        let pdb = tree.one("PodDisruptionBudget", service.name);
        assert_eq!(labels(&pdb["spec"]["selector"]["matchLabels"]), selector);
        let hpa = tree.one("HorizontalPodAutoscaler", service.name);
        let target = &hpa["spec"]["scaleTargetRef"];
        assert_eq!(str_of(&target["kind"]), "Deployment");
        assert_eq!(str_of(&target["name"]), service.name);
        assert_eq!(str_of(&hpa["apiVersion"]), "autoscaling/v2");
        assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(1));
    }
}

#[test]
fn images_are_the_names_the_dockerfiles_build() {
    // Each workload of ours by (its overlay, kind, name, container), the
    // image the manifests name and the binary that image must run.
    let mut ours = Vec::new();
    for service in services() {
        let image = format!("shop-{}", service.name);
        ours.push(("dev", "Deployment", service.name, image, service.name));
    }
    for job in jobs() {
        if let Program::Binary { image, binary, .. } = job.program {
            ours.push((job.overlays[0], "Job", job.name, image.to_owned(), binary));
        }
    }
    for (overlay_name, kind, name, base, binary) in &ours {
        let tree = overlay(overlay_name);
        let image = str_of(&container(tree.one(kind, name), name)["image"]);
        assert_eq!(image, base, "{name}: k8s/ names the image without a tag");
        let tag = tree
            .image_tags
            .get(base)
            .unwrap_or_else(|| panic!("{overlay_name} tags {base}"));
        assert_eq!(tag, "dev", "{overlay_name}: {base}");

        // docker/<name>/Dockerfile builds it (`docker build -f ... -t
        // shop-<name>:dev`). A Job runs no `command`, so the image's
        // ENTRYPOINT must be the binary, and its user the pods' UID.
        let folder = base.strip_prefix("shop-").expect("images are shop-*");
        let path = root().join("docker").join(folder).join("Dockerfile");
        assert!(path.exists(), "{}: nothing builds {base}", path.display());
        let dockerfile = read(&path);
        let entrypoint = format!(r#"ENTRYPOINT ["/usr/local/bin/{binary}"]"#);
        assert!(
            dockerfile.lines().any(|l| l.trim() == entrypoint),
            "{}: {entrypoint}",
            path.display()
        );
        let user = format!("USER {RUN_AS_USER}:{RUN_AS_USER}");
        assert!(
            dockerfile.lines().any(|l| l.trim() == user),
            "{}: {user}",
            path.display()
        );
        assert!(
            container(tree.one(kind, name), name)["command"].is_null(),
            "{name}: the image's ENTRYPOINT runs {binary}"
        );
    }
    // docker-compose.yml builds the same names: each of its services that
    // runs a Shop image runs the one these overlays name, under the same
    // name (the services, and the load generator as `load`).
    let expected: BTreeMap<_, _> = ours
        .iter()
        .map(|(_, _, name, image, _)| (name.to_string(), format!("{image}:dev")))
        .collect();
    let compose = parse_all(&root().join("docker-compose.yml")).remove(0);
    let mut in_compose = 0;
    for (name, definition) in compose["services"].as_mapping().expect("services") {
        let (name, image) = (str_of(name), str_of(&definition["image"]));
        if image.starts_with("shop-") {
            assert_eq!(
                expected.get(name),
                Some(&image.to_owned()),
                "compose runs {image} as {name}"
            );
            in_compose += 1;
        }
    }
    assert!(in_compose >= 1, "docker-compose.yml runs the Shop images");
}

/// The file at `path` in a pod: its content when `path` is a key of a
/// generated ConfigMap or Secret that `c` mounts (the mount's directory, the
/// key as the file name).
fn mounted_file(tree: &Tree, pod: &Value, c: &Value, path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once('/')?;
    let mount = seq(&c["volumeMounts"])
        .iter()
        .find(|m| str_of(&m["mountPath"]) == dir)?;
    let volume = seq(&pod["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    let data = if !volume["configMap"].is_null() {
        tree.config_maps.get(str_of(&volume["configMap"]["name"]))
    } else {
        tree.secrets.get(str_of(&volume["secret"]["secretName"]))
    }?;
    data.get(file).cloned()
}

/// Whether `path` is a directory a container mounts.
fn mounted_dir(c: &Value, path: &str) -> bool {
    seq(&c["volumeMounts"])
        .iter()
        .any(|m| str_of(&m["mountPath"]) == path)
}

/// The image Compose's tools run in: the default of `${POSTGRES_IMAGE:-...}`
/// in docker-compose.yml, for the service given.
fn compose_image(compose: &Value, service: &str) -> String {
    let image = str_of(&compose["services"][service]["image"]);
    image
        .strip_prefix("${POSTGRES_IMAGE:-")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("compose's {service} runs {image}, not the PostgreSQL image"))
        .to_owned()
}

#[test]
fn tool_jobs_run_composes_scripts_in_the_postgres_image() {
    let mut compose = parse_all(&root().join("docker-compose.yml")).remove(0);
    // The tools take their image from the `x-tools` anchor (`<<: *tools`).
    compose
        .apply_merge()
        .expect("docker-compose.yml's merge keys");
    for job in jobs() {
        let Program::Tools {
            compose_service,
            scripts,
            config_map,
            copies,
            ..
        } = job.program
        else {
            continue;
        };
        for overlay_name in job.overlays {
            let tree = overlay(overlay_name);
            let at = format!("{overlay_name}/{}", job.name);
            let object = tree.one("Job", job.name);
            let pod = &object["spec"]["template"]["spec"];
            let c = container(object, job.name);

            // One image for the database and the tools (one pull), the one
            // Compose runs both in.
            let image = str_of(&c["image"]);
            let postgres =
                str_of(&container(tree.one("StatefulSet", "postgres"), "postgres")["image"]);
            assert_eq!(image, postgres, "{at}: the PostgreSQL StatefulSet's image");
            assert_eq!(
                image,
                compose_image(&compose, compose_service),
                "{at}: the image Compose's {compose_service} runs in"
            );
            assert_eq!(
                image,
                compose_image(&compose, "postgres"),
                "{at}: Compose's PostgreSQL"
            );

            // The copies in the overlay are the originals, and nothing else.
            let data = tree
                .config_maps
                .get(config_map)
                .unwrap_or_else(|| panic!("{at}: {config_map} is not generated"));
            let keys: BTreeSet<_> = data.keys().map(String::as_str).collect();
            let expected: BTreeSet<_> = copies.iter().map(|(key, _)| *key).collect();
            assert_eq!(keys, expected, "{at}: what {config_map} holds");
            for (key, original) in copies {
                assert!(
                    data[*key] == read(&root().join(original)),
                    "{at}: {config_map}'s {key} is a copy of {original}: copy it again"
                );
            }
            for script in scripts {
                assert!(
                    copies.iter().any(|(key, original)| key == script
                        && *original == format!("docker/tools/{script}")),
                    "{at}: {script} is among the copies"
                );
            }

            // The command is Compose's, and runs the first script from the
            // mounted copy.
            let command: Vec<_> = seq(&c["command"]).iter().map(str_of).collect();
            let compose_command: Vec<_> = seq(&compose["services"][compose_service]["entrypoint"])
                .iter()
                .map(str_of)
                .collect();
            assert_eq!(
                command, compose_command,
                "{at}: the command Compose's {compose_service} runs"
            );
            let script = command.last().copied().unwrap_or_default();
            assert_eq!(
                mounted_file(&tree, pod, c, script).as_deref(),
                Some(data[scripts[0]].as_str()),
                "{at}: {script} is the mounted {}",
                scripts[0]
            );
            // Every path the environment names is in the pod: a mounted
            // file, or a mounted directory.
            let (env, _) = environment(&tree, job.name, c);
            for (variable, value) in &env {
                if value.starts_with('/') {
                    assert!(
                        mounted_dir(c, value) || mounted_file(&tree, pod, c, value).is_some(),
                        "{at}: {variable}={value} is nowhere in the pod"
                    );
                }
            }
        }
    }
}

#[test]
fn the_dev_overlay_uses_the_dev_identity_and_consistent_database_roles() {
    let tree = overlay("dev");
    let auth = &tree.config_maps["shop-auth"];
    assert_eq!(auth["issuer"], shop_api::auth::DEV_ISSUER);
    assert_eq!(auth["audience"], shop_api::auth::DEV_AUDIENCE);
    assert_eq!(
        auth["jwt-public.pem"],
        read(&root().join("dev/keys/dev-public.pem")),
        "k8s/overlays/dev/dev-public.pem is a copy of dev/keys/dev-public.pem"
    );
    let postgres = &tree.secrets["postgres"];
    let init = &tree.config_maps["postgres-init"]["init-databases.sh"];
    let names: Vec<_> = services().iter().map(|s| s.name).collect();
    assert!(
        init.contains(&format!("for service in {}; do", names.join(" "))),
        "init-databases.sh creates a role and a database for each service"
    );
    for service in services() {
        let (env, _) = environment(
            &tree,
            service.name,
            container(tree.deployment(service.name), service.name),
        );
        let url = &env["DATABASE_URL"];
        let password = &postgres[&format!("{}_DB_PASSWORD", service.name.to_uppercase())];
        let expected = format!("postgres://{0}:{password}@postgres:5432/{0}", service.name);
        assert_eq!(
            url, &expected,
            "{}: its own role and database",
            service.name
        );
    }
}

/// A peer in a NetworkPolicy rule or a call: a workload of the namespace, an
/// external peer, or an address range.
type Peer = String;
/// (from, to, protocol, port).
type Edge = (Peer, Peer, String, u16);

fn peers(tree: &Tree, rule_peers: &[Value]) -> Vec<Peer> {
    let workloads = tree.workloads();
    let mut out = Vec::new();
    for peer in rule_peers {
        if !peer["ipBlock"].is_null() {
            out.push(format!("ipBlock:{}", str_of(&peer["ipBlock"]["cidr"])));
            continue;
        }
        let pods = labels(&peer["podSelector"]["matchLabels"]);
        if peer["namespaceSelector"].is_null() {
            out.extend(
                workloads
                    .iter()
                    .filter(|(_, labels, _)| selects(&pods, labels))
                    .map(|(name, _, _)| name.clone()),
            );
        } else {
            let ns = labels(&peer["namespaceSelector"]["matchLabels"]);
            let found: Vec<_> = EXTERNALS
                .iter()
                .filter(|e| {
                    let ns_labels = BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        e.namespace.to_owned(),
                    )]);
                    let pod_labels: BTreeMap<_, _> = e
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    selects(&ns, &ns_labels) && !pods.is_empty() && selects(&pods, &pod_labels)
                })
                .collect();
            assert_eq!(found.len(), 1, "an unknown or too wide peer: {peer:?}");
            out.push(found[0].id.to_owned());
        }
    }
    out
}

/// What the NetworkPolicies allow, per direction: (ingress, egress) edges.
fn allowed(tree: &Tree) -> (BTreeSet<Edge>, BTreeSet<Edge>) {
    let workloads = tree.workloads();
    let (mut ingress, mut egress) = (BTreeSet::new(), BTreeSet::new());
    let mut guarded = (BTreeSet::new(), BTreeSet::new());
    for policy in tree.all("NetworkPolicy") {
        let name = str_of(&policy["metadata"]["name"]);
        let selector = labels(&policy["spec"]["podSelector"]["matchLabels"]);
        let selected: Vec<_> = workloads
            .iter()
            .filter(|(_, pod, _)| selects(&selector, pod))
            .map(|(n, _, _)| n.clone())
            .collect();
        let types: Vec<_> = seq(&policy["spec"]["policyTypes"])
            .iter()
            .map(str_of)
            .collect();
        for (kind, key, edges, guard) in [
            ("Ingress", "ingress", &mut ingress, &mut guarded.0),
            ("Egress", "egress", &mut egress, &mut guarded.1),
        ] {
            if !types.contains(&kind) {
                continue;
            }
            guard.extend(selected.iter().cloned());
            for rule in seq(&policy["spec"][key]) {
                let side = if kind == "Ingress" { "from" } else { "to" };
                assert!(
                    !rule[side].is_null() && !rule["ports"].is_null(),
                    "{name}: every rule names its peers and ports"
                );
                let others = peers(tree, seq(&rule[side]));
                for port in seq(&rule["ports"]) {
                    let number = port["port"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("{name}: ports are numbers"))
                        as u16;
                    let protocol = str_of(&port["protocol"]).to_owned();
                    for own in &selected {
                        for other in &others {
                            let (from, to) = if kind == "Ingress" {
                                (other.clone(), own.clone())
                            } else {
                                (own.clone(), other.clone())
                            };
                            edges.insert((from, to, protocol.clone(), number));
                        }
                    }
                }
            }
        }
    }
    // Without a policy of that type, a pod is open in that direction.
    for (name, _, _) in &workloads {
        assert!(
            guarded.0.contains(name),
            "{name}: no ingress policy selects it"
        );
        assert!(
            guarded.1.contains(name),
            "{name}: no egress policy selects it"
        );
    }
    (ingress, egress)
}

/// Where a URL variable points: a workload of the namespace (through its
/// Service) or an external peer, and the pod port.
fn destination(tree: &Tree, url: &str) -> (Peer, u16) {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap();
    let authority = authority.rsplit('@').next().unwrap();
    let (host, port) = authority.rsplit_once(':').expect("URLs name their port");
    let port: u16 = port.parse().unwrap();
    if let Some((name, namespace)) = host.split_once('.') {
        let e = EXTERNALS
            .iter()
            .find(|e| e.namespace == namespace && e.labels.iter().any(|(_, v)| *v == name))
            .unwrap_or_else(|| panic!("{url}: unknown external service"));
        return (e.id.to_owned(), port);
    }
    let svc = tree.one("Service", host);
    let svc_port = seq(&svc["spec"]["ports"])
        .iter()
        .find(|p| p["port"].as_u64() == Some(port as u64))
        .unwrap_or_else(|| panic!("{url}: Service {host} has no port {port}"));
    let selector = labels(&svc["spec"]["selector"]);
    let (workload, _, pod) = tree
        .workloads()
        .into_iter()
        .find(|(_, labels, _)| selects(&selector, labels))
        .unwrap_or_else(|| panic!("{url}: Service {host} selects no pods"));
    let c = &seq(&pod["containers"])[0];
    (workload, container_port(c, str_of(&svc_port["targetPort"])))
}

#[test]
fn network_policies_allow_exactly_the_calls_the_code_makes() {
    // dev-load adds the load pods' calls to product, cart and order, and the
    // policies that allow them on both sides.
    for overlay_name in ["dev", "dev-load"] {
        network_policies_allow_exactly_the_calls_in(&overlay(overlay_name));
    }
}

fn network_policies_allow_exactly_the_calls_in(tree: &Tree) {
    let tcp = |from: &str, to: &str, port: u16| -> Edge {
        (from.to_owned(), to.to_owned(), "TCP".to_owned(), port)
    };
    let mut calls = BTreeSet::new();
    // Every pod resolves names.
    for (name, _, _) in tree.workloads() {
        for protocol in ["UDP", "TCP"] {
            calls.insert((name.clone(), "dns".to_owned(), protocol.to_owned(), 53));
        }
    }
    // Each service calls what its URL variables name: its database, its
    // trace collector, the services it depends on.
    for service in services() {
        let (env, _) = environment(
            tree,
            service.name,
            container(tree.deployment(service.name), service.name),
        );
        for (name, value) in &env {
            if name.ends_with("_URL") || name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                let (to, port) = destination(tree, value);
                calls.insert(tcp(service.name, &to, port));
            }
        }
    }
    // A Job calls what its URL variables name (shop-load: SHOP_*_URL).
    for job in tree.all("Job") {
        let name = str_of(&job["metadata"]["name"]);
        let (env, _) = environment(tree, name, container(job, name));
        for (variable, value) in &env {
            if variable.ends_with("_URL") {
                let (to, port) = destination(tree, value);
                calls.insert(tcp(name, &to, port));
            }
        }
    }
    let (ingress, egress) = allowed(tree);

    // Egress: exactly the calls.
    let missing: Vec<_> = calls.difference(&egress).collect();
    let extra: Vec<_> = egress.difference(&calls).collect();
    assert!(
        missing.is_empty(),
        "egress not allowed for calls: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "egress allowed beyond the calls: {extra:?}"
    );

    // Ingress: the in-namespace calls, plus the ingress controller to each
    // service the Ingress routes to, the Gateway's proxies to each service
    // the HTTPRoute routes to, plus Prometheus to each scrape port.
    let workload_names: BTreeSet<_> = tree.workloads().into_iter().map(|w| w.0).collect();
    let mut expected: BTreeSet<Edge> = calls
        .iter()
        .filter(|(_, to, _, _)| workload_names.contains(to))
        .cloned()
        .collect();
    let ingress_object = tree.one("Ingress", "shop");
    for rule in seq(&ingress_object["spec"]["rules"]) {
        for path in seq(&rule["http"]["paths"]) {
            let backend = &path["backend"]["service"];
            let svc = tree.one("Service", str_of(&backend["name"]));
            let port = seq(&svc["spec"]["ports"])
                .iter()
                .find(|p| p["name"] == backend["port"]["name"])
                .expect("the backend port exists");
            let url = format!(
                "http://{}:{}",
                str_of(&backend["name"]),
                port["port"].as_u64().unwrap()
            );
            let (to, port) = destination(tree, &url);
            expected.insert(tcp("ingress-controller", &to, port));
        }
    }
    // The Gateway's proxies to each service the HTTPRoute routes to, on the
    // Service's target port.
    for route in tree.all("HTTPRoute") {
        for rule in seq(&route["spec"]["rules"]) {
            for backend in seq(&rule["backendRefs"]) {
                let url = format!(
                    "http://{}:{}",
                    str_of(&backend["name"]),
                    backend["port"].as_u64().unwrap()
                );
                let (to, port) = destination(tree, &url);
                expected.insert(tcp("gateway", &to, port));
            }
        }
    }
    for service in services() {
        let annotations =
            &tree.deployment(service.name)["spec"]["template"]["metadata"]["annotations"];
        let port: u16 = str_of(&annotations["prometheus.io/port"]).parse().unwrap();
        expected.insert(tcp("prometheus", service.name, port));
    }
    let missing: Vec<_> = expected.difference(&ingress).collect();
    let extra: Vec<_> = ingress.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "ingress not allowed for calls: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "ingress allowed beyond the calls: {extra:?}"
    );

    // The prod overlay swaps the database peer of each egress policy for an
    // address range by position: the first rule must be the database.
    for service in services() {
        let policy = tree.one("NetworkPolicy", &format!("{}-egress", service.name));
        let first = &seq(&policy["spec"]["egress"])[0];
        assert_eq!(
            first["ports"][0]["port"].as_u64(),
            Some(5432),
            "{}",
            service.name
        );
    }
}

/// A container's `env` entry by name.
fn env_entry<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    seq(&container["env"])
        .iter()
        .find(|v| str_of(&v["name"]) == name)
}

#[test]
fn jobs_run_once_within_their_deadline_against_the_services() {
    for job in jobs() {
        for overlay_name in job.overlays {
            jobs_run_once_within_their_deadline_in(&job, &overlay(overlay_name), overlay_name);
        }
    }
}

fn jobs_run_once_within_their_deadline_in(job: &Job, tree: &Tree, overlay_name: &str) {
    let object = tree.one("Job", job.name);
    let spec = &object["spec"];
    let name = format!("{overlay_name}/{}", job.name);
    // A failed run is retried only where running it again is safe.
    let backoff = spec["backoffLimit"].as_u64();
    if job.retried {
        assert!(
            backoff.is_some_and(|b| (1..=10).contains(&b)),
            "{name}: backoffLimit {backoff:?}: a few retries"
        );
    } else {
        assert_eq!(backoff, Some(0), "{name}: backoffLimit");
    }
    assert_eq!(
        str_of(&spec["template"]["spec"]["restartPolicy"]),
        "Never",
        "{name}: restartPolicy"
    );
    assert!(
        spec["ttlSecondsAfterFinished"]
            .as_u64()
            .is_some_and(|ttl| ttl >= 600),
        "{name}: the finished Job stays long enough to read its logs"
    );
    let deadline = spec["activeDeadlineSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: activeDeadlineSeconds"));
    let c = container(object, job.name);
    let (env, _) = environment(tree, job.name, c);

    match &job.program {
        Program::Binary { binary, cli, .. } => {
            // Every flag exists (a typo would end the run with exit code 64).
            let flags = cli_flags(cli);
            let mut given = BTreeMap::new();
            let mut flag: Option<String> = None;
            for arg in seq(&c["args"]).iter().map(str_of) {
                if let Some(long) = arg.strip_prefix("--") {
                    let (long, value) = long.split_once('=').unwrap_or((long, ""));
                    let long = format!("--{long}");
                    assert!(flags.contains_key(&long), "{name}: {binary} has no {long}");
                    given.insert(long.clone(), value.to_owned());
                    flag = Some(long);
                } else if let Some(f) = flag.take().filter(|_| !arg.starts_with('-')) {
                    // shop-load takes no positional argument: a bare word is
                    // the value of the flag before it.
                    given.insert(f, arg.to_owned());
                }
            }
            let value = |flag: &str| -> String {
                given.get(flag).cloned().unwrap_or_else(|| {
                    let attributes = &flags[flag];
                    let at = attributes
                        .find("default_value = \"")
                        .unwrap_or_else(|| panic!("{flag} has no default"));
                    let rest = &attributes[at + "default_value = \"".len()..];
                    rest[..rest.find('"').unwrap()].to_owned()
                })
            };
            // The deadline covers the load, the audit's wait for in-flight
            // work and the catalog's set-up and clean-up; past it the run
            // is killed half-way, its catalog left behind.
            let load = match given.get("--stages") {
                Some(stages) => stages
                    .split(',')
                    .map(|stage| seconds(stage.split(':').next().unwrap()))
                    .sum(),
                None => seconds(&value("--duration")),
            };
            let needed = load + seconds(&value("--settle-timeout")) + LOAD_SET_UP_AND_CLEAN_UP_SECS;
            assert!(
                deadline as f64 >= needed,
                "{name}: activeDeadlineSeconds {deadline} < the {needed} s the run needs"
            );
            // The root filesystem is read-only: a report goes to a volume.
            for flag in ["--report", "--html"] {
                if let Some(path) = given.get(flag) {
                    assert!(
                        seq(&c["volumeMounts"]).iter().any(|m| {
                            path.starts_with(&format!("{}/", str_of(&m["mountPath"])))
                        }),
                        "{name}: {flag} {path} is on no volume"
                    );
                }
            }
        }
        Program::Tools { wait, .. } => {
            // Its wait for the services ends well before the deadline, so a
            // run that finds no one fails by itself and can be retried.
            let waits: u64 = env
                .get(*wait)
                .unwrap_or_else(|| panic!("{name}: {wait}"))
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {wait} is a number of seconds"));
            assert!(
                waits > 0 && waits + 60 <= deadline,
                "{name}: {wait} {waits} s must end a minute before activeDeadlineSeconds {deadline}"
            );
        }
    }

    // Each service it calls by its own Service and API port; no other URL.
    for (service, variable) in job.calls {
        assert!(
            services().iter().any(|s| s.name == *service),
            "{name} calls {service}, which is no service"
        );
        let url = env
            .get(*variable)
            .unwrap_or_else(|| panic!("{name}: {variable}"));
        let http = container_port(container(tree.deployment(service), service), "http");
        assert_eq!(
            destination(tree, url),
            (service.to_string(), http),
            "{name}: {variable}"
        );
    }
    for variable in env.keys().filter(|v| v.ends_with("_URL")) {
        assert!(
            job.calls.iter().any(|(_, v)| v == variable),
            "{name}: {variable}, but jobs() lists no such call"
        );
    }
    // The service credential and the token issuer come from where the
    // services take them, so the two sides cannot drift apart.
    for (own, services_variable) in job.shared {
        let from = &env_entry(c, own).unwrap_or_else(|| panic!("{name}: {own}"))["valueFrom"];
        assert!(!from.is_null(), "{name}: {own} from a Secret or ConfigMap");
        for service in services() {
            let deployment = tree.deployment(service.name);
            let theirs = env_entry(container(deployment, service.name), services_variable)
                .unwrap_or_else(|| panic!("{}: {services_variable}", service.name));
            assert_eq!(
                from, &theirs["valueFrom"],
                "{name}: {own} as {} reads {services_variable}",
                service.name
            );
        }
    }
    // It signs its tokens with the committed development key, mounted from
    // a Secret (the images carry no private key), and the services of the
    // overlay trust its public half.
    let key_file = env
        .get(job.signing_key)
        .unwrap_or_else(|| panic!("{name}: {}", job.signing_key));
    let pod = &object["spec"]["template"]["spec"];
    assert_eq!(
        mounted_file(tree, pod, c, key_file),
        Some(read(&root().join("dev/keys/dev-private.pem"))),
        "{name}: {} names the mounted development key",
        job.signing_key
    );
    assert_eq!(
        tree.config_maps["shop-auth"]["jwt-public.pem"],
        read(&root().join("dev/keys/dev-public.pem")),
        "{name}: the services of {overlay_name} trust the development key"
    );
}

/// The public routes, as both the Ingress and the HTTPRoute must have them:
/// each API's `/v1` prefix to it, every other path to the storefront.
fn public_routes() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("/v1/products".to_owned(), "product".to_owned()),
        ("/v1/cart".to_owned(), "cart".to_owned()),
        ("/v1/orders".to_owned(), "order".to_owned()),
        ("/".to_owned(), "web".to_owned()),
    ])
}

/// Routes by path prefix (prefix -> service) reach exactly the public paths:
/// every path a service serves goes to that service, and no `/internal/...`
/// path reaches a service that serves it. Prefixes match whole path
/// segments (`/` matches every path) and the longest matching prefix wins,
/// for an Ingress's `Prefix` and a Gateway API `PathPrefix` alike.
fn route_only_public_paths(what: &str, routes: &BTreeMap<String, String>) {
    assert_eq!(routes, &public_routes(), "{what}: its routes");
    let routed = |path: &str| {
        routes
            .iter()
            .filter(|(prefix, _)| {
                let prefix = prefix.trim_end_matches('/');
                prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, backend)| backend.as_str())
    };
    // What each service serves: its OpenAPI document's paths (the
    // storefront's: its router's).
    let served: BTreeMap<&str, Vec<String>> = services()
        .iter()
        .map(|s| {
            let Loader::Crate { paths, .. } = s.load;
            (s.name, paths())
        })
        .collect();
    for (service, paths) in &served {
        for path in paths {
            let route = routed(path);
            if path.starts_with("/internal/") {
                // Outside the /v1 prefixes a path reaches the storefront:
                // an internal route must never reach a service serving it.
                let backend =
                    route.unwrap_or_else(|| panic!("{what}: {path}: / routes everything"));
                assert!(
                    !served[backend].contains(path),
                    "{what}: {path} must not be routed to {backend}, which serves it"
                );
            } else {
                assert_eq!(
                    route,
                    Some(*service),
                    "{what}: {path} is routed to {service}"
                );
            }
        }
    }
    // The storefront calls the APIs on their public routes only, so it has
    // no route of its own under /internal (or under /v1, where the routes
    // would hide it behind an API).
    for path in &served["web"] {
        assert!(
            !path.starts_with("/internal") && !path.starts_with("/v1"),
            "web serves {path}"
        );
    }
    // The admin paths are served on the admin port only, which no route
    // names (each caller checks its backends' ports); on the API ports they
    // are no service's path.
    for path in [LIVEZ, READYZ, "/metrics"] {
        for (service, paths) in &served {
            assert!(
                !paths.iter().any(|p| p == path),
                "{service} serves {path} on its API port"
            );
        }
    }
}

#[test]
fn the_ingress_routes_only_public_paths() {
    let tree = overlay("dev");
    let ingress = tree.one("Ingress", "shop");
    let mut routes = BTreeMap::new();
    for rule in seq(&ingress["spec"]["rules"]) {
        for path in seq(&rule["http"]["paths"]) {
            assert_eq!(str_of(&path["pathType"]), "Prefix");
            let backend = str_of(&path["backend"]["service"]["name"]).to_owned();
            // The API port by name: never the admin port.
            assert_eq!(str_of(&path["backend"]["service"]["port"]["name"]), "http");
            routes.insert(str_of(&path["path"]).to_owned(), backend);
        }
    }
    route_only_public_paths("the Ingress", &routes);
}

/// The HTTPRoute's rules as prefix -> service, each rule held to the shape
/// that makes it mean what the Ingress's paths mean: one `PathPrefix` match
/// on the path alone, one backend, a Service of the namespace on its API
/// port, and nothing that changes the request.
fn http_route_prefixes(tree: &Tree, route: &Value) -> BTreeMap<String, String> {
    let mut routes = BTreeMap::new();
    assert!(
        seq(&route["spec"]["hostnames"]).is_empty(),
        "any host, as the Ingress"
    );
    for rule in seq(&route["spec"]["rules"]) {
        let matches = seq(&rule["matches"]);
        assert_eq!(matches.len(), 1, "one match per rule: {rule:?}");
        let m = &matches[0];
        for only_path in ["headers", "queryParams", "method"] {
            assert!(
                m[only_path].is_null(),
                "a match on the path alone: {rule:?}"
            );
        }
        assert_eq!(str_of(&m["path"]["type"]), "PathPrefix", "{rule:?}");
        assert!(rule["filters"].is_null(), "no filters: {rule:?}");
        let backends = seq(&rule["backendRefs"]);
        assert_eq!(backends.len(), 1, "one backend per rule: {rule:?}");
        let backend = &backends[0];
        for key in ["group", "kind", "namespace", "filters", "weight"] {
            assert!(
                backend[key].is_null(),
                "a plain Service backend: {backend:?}"
            );
        }
        let service = str_of(&backend["name"]);
        let svc = tree.one("Service", service);
        let http = seq(&svc["spec"]["ports"])
            .iter()
            .find(|p| str_of(&p["name"]) == "http")
            .and_then(|p| p["port"].as_u64());
        // The API port by number (a Gateway API backend names no port by
        // name): never the admin port.
        assert_eq!(
            backend["port"].as_u64(),
            http,
            "{service}: the HTTPRoute's backend is its API port"
        );
        let prefix = str_of(&m["path"]["value"]).to_owned();
        assert!(
            routes.insert(prefix.clone(), service.to_owned()).is_none(),
            "{prefix} routed twice"
        );
    }
    routes
}

#[test]
fn the_http_route_routes_only_public_paths_like_the_ingress() {
    // The overlays with the component: dev, and dev-load through dev.
    for overlay_name in ["dev", "dev-load"] {
        let tree = overlay(overlay_name);
        let route = tree.one("HTTPRoute", "shop");
        let at = format!("{overlay_name}: the HTTPRoute");
        let routes = http_route_prefixes(&tree, route);
        route_only_public_paths(&at, &routes);
        let mut ingress = BTreeMap::new();
        for rule in seq(&tree.one("Ingress", "shop")["spec"]["rules"]) {
            for path in seq(&rule["http"]["paths"]) {
                ingress.insert(
                    str_of(&path["path"]).to_owned(),
                    str_of(&path["backend"]["service"]["name"]).to_owned(),
                );
            }
        }
        assert_eq!(routes, ingress, "{at} and the Ingress route alike");

        // It attaches to the overlay's Gateway, on a listener that takes it.
        let parents = seq(&route["spec"]["parentRefs"]);
        assert_eq!(parents.len(), 1, "{at}: one parent");
        let parent = &parents[0];
        for key in ["group", "kind", "namespace", "sectionName", "port"] {
            assert!(
                parent[key].is_null(),
                "{at}: the Gateway of its own namespace: {parent:?}"
            );
        }
        let gateway = tree.one("Gateway", str_of(&parent["name"]));
        assert!(
            seq(&gateway["spec"]["listeners"]).iter().any(|l| {
                str_of(&l["protocol"]) == "HTTP"
                    && matches!(
                        str_of(&l["allowedRoutes"]["namespaces"]["from"]),
                        "Same" | "All" | ""
                    )
            }),
            "{at}: {} has an HTTP listener for routes of its namespace",
            str_of(&gateway["metadata"]["name"])
        );
    }
    // prod keeps the Ingress alone (it does not list the component).
    assert_eq!(overlay("prod").all("HTTPRoute").count(), 0);
}

#[test]
fn the_gateway_is_envoy_gateways_and_its_proxies_are_the_ones_let_in() {
    // The GatewayClasses applied outside the overlays (k8s/cluster/).
    let classes: Vec<Value> = std::fs::read_dir(root().join("k8s/cluster"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .flat_map(|p| parse_all(&p))
        .filter(|o| str_of(&o["kind"]) == "GatewayClass")
        .collect();
    for overlay_name in ["dev", "dev-load"] {
        let tree = overlay(overlay_name);
        let gateways: Vec<_> = tree.all("Gateway").collect();
        assert_eq!(gateways.len(), 1, "{overlay_name}: one Gateway");
        let gateway = gateways[0];
        let class = str_of(&gateway["spec"]["gatewayClassName"]);
        let defined = classes
            .iter()
            .find(|c| str_of(&c["metadata"]["name"]) == class)
            .unwrap_or_else(|| panic!("{overlay_name}: no GatewayClass {class} in k8s/cluster/"));
        assert_eq!(
            str_of(&defined["spec"]["controllerName"]),
            ENVOY_GATEWAY_CONTROLLER,
            "{class} is Envoy Gateway's"
        );
        // The NetworkPolicies let in the proxies of this Gateway: Envoy
        // Gateway labels them with its name and namespace.
        let proxies = EXTERNALS.iter().find(|e| e.id == "gateway").unwrap();
        let label = |key: &str| {
            proxies
                .labels
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .unwrap()
        };
        assert_eq!(proxies.namespace, ENVOY_GATEWAY_NAMESPACE);
        assert_eq!(
            label("gateway.envoyproxy.io/owning-gateway-name"),
            str_of(&gateway["metadata"]["name"])
        );
        assert_eq!(
            label("gateway.envoyproxy.io/owning-gateway-namespace"),
            tree.namespace,
            "{overlay_name}: the Gateway's namespace"
        );
    }
}

/// The token pod (k8s/overlays/dev/tools/token-pod.json): `kubectl run`'s
/// overrides for a one-shot pod that runs token.sh in the dev overlay's
/// namespace, as docs/kubernetes.md shows.
#[test]
fn the_token_pod_signs_with_the_dev_key_the_dev_services_trust() {
    let tree = overlay("dev");
    let path = root().join("k8s/overlays/dev/tools/token-pod.json");
    let pod_object = parse_all(&path).remove(0);
    assert_eq!(str_of(&pod_object["kind"]), "Pod");
    assert_eq!(str_of(&pod_object["metadata"]["namespace"]), tree.namespace);
    let name = str_of(&pod_object["metadata"]["name"]);
    let pod = &pod_object["spec"];
    hardened("token-pod.json", pod, false);
    assert_eq!(str_of(&pod["restartPolicy"]), "Never");
    // An account of the overlay with no API access (the catalog loader's).
    let account = str_of(&pod["serviceAccountName"]);
    assert_eq!(
        tree.one("ServiceAccount", account)["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
    assert_eq!(
        pod["securityContext"]["runAsUser"].as_i64(),
        Some(RUN_AS_USER)
    );
    // `kubectl run NAME` names the container after the pod; the overrides
    // merge into it by that name (strategic merge), so the command line's
    // arguments (the subject, --admin) survive and the overrides set none.
    let containers = seq(&pod["containers"]);
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(
        str_of(&c["name"]),
        name,
        "the container is named after the pod"
    );
    assert!(
        c["args"].is_null(),
        "the arguments come from the command line"
    );
    let command: Vec<_> = seq(&c["command"]).iter().map(str_of).collect();
    assert_eq!(command, ["bash", "/tools/token.sh"]);
    assert_eq!(
        str_of(&c["image"]),
        str_of(&container(tree.one("StatefulSet", "postgres"), "postgres")["image"]),
        "the PostgreSQL image: bash and openssl"
    );
    // What it mounts is generated by the overlay under names without a
    // hash, which is how a pod outside kustomize can name them.
    for volume in seq(&pod["volumes"]) {
        let generated = if !volume["configMap"].is_null() {
            Some(str_of(&volume["configMap"]["name"]))
        } else if !volume["secret"].is_null() {
            Some(str_of(&volume["secret"]["secretName"]))
        } else {
            None
        };
        if let Some(generated) = generated {
            assert!(
                tree.unhashed.contains(generated),
                "{generated} is generated with disableNameSuffixHash"
            );
        }
    }
    assert_eq!(
        mounted_file(&tree, pod, c, "/tools/token.sh"),
        Some(read(&root().join("docker/tools/token.sh"))),
        "the mounted token.sh is docker/tools/token.sh"
    );
    let (env, _) = environment(&tree, name, c);
    assert_eq!(
        mounted_file(&tree, pod, c, &env["DEV_PRIVATE_KEY"]),
        Some(read(&root().join("dev/keys/dev-private.pem"))),
        "DEV_PRIVATE_KEY names the mounted development key"
    );
    // It sets no issuer or audience (shop-auth's name has a hash): token.sh's
    // defaults must be what the dev services require.
    for (variable, key) in [("AUTH_ISSUER", "issuer"), ("AUTH_AUDIENCE", "audience")] {
        let value = env
            .get(variable)
            .cloned()
            .unwrap_or_else(|| script_default("token.sh", variable));
        assert_eq!(
            value, tree.config_maps["shop-auth"][key],
            "token.sh's {variable}"
        );
    }
    // The documented command: the override type that merges by container
    // name, the file, the namespace.
    let docs = read(&root().join("docs/kubernetes.md"));
    for needed in [
        "--override-type=strategic",
        "--overrides=\"$(cat k8s/overlays/dev/tools/token-pod.json)\"",
        &format!("kubectl -n {} run {name} ", tree.namespace),
    ] {
        assert!(docs.contains(needed), "docs/kubernetes.md: {needed}");
    }
}

#[test]
fn only_the_dev_overlays_switch_on_development_mode() {
    for overlay_name in OVERLAYS.iter().copied() {
        let tree = overlay(overlay_name);
        for service in services() {
            let (env, _) = environment(
                &tree,
                service.name,
                container(tree.deployment(service.name), service.name),
            );
            let expected = if overlay_name.starts_with("dev") {
                "true"
            } else {
                "false"
            };
            assert_eq!(
                env.get("DEVELOPMENT_MODE").map(String::as_str),
                Some(expected),
                "{overlay_name}: {} DEVELOPMENT_MODE",
                service.name
            );
            // The fault switches go with development mode too: anyone who
            // reaches an admin port could slow or break a service with them.
            assert_eq!(
                env.get("FAULTS_ENABLED").map(String::as_str),
                Some(expected),
                "{overlay_name}: {} FAULTS_ENABLED",
                service.name
            );
            // The storefront's "sign in as" form (tokens from the
            // development key) goes with development mode: the dev stacks
            // have no other way to sign in, a real one must not have it.
            if service.names_read().contains("WEB_DEV_SIGN_IN") {
                assert_eq!(
                    env.get("WEB_DEV_SIGN_IN").map(String::as_str),
                    Some(expected),
                    "{overlay_name}: {} WEB_DEV_SIGN_IN",
                    service.name
                );
            }
        }
    }
}

#[test]
fn the_slo_rules_on_kubernetes_are_the_rules_compose_loads() {
    // What compose's Prometheus loads: prometheus.yml's rule_files glob,
    // in the order Prometheus reads it (sorted file names).
    let observability = root().join("docker/observability");
    let prometheus = parse_all(&observability.join("prometheus.yml")).remove(0);
    assert_eq!(
        seq(&prometheus["rule_files"]),
        [Value::from("rules/*.yml")],
        "docker/observability/prometheus.yml: rule_files"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(observability.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let groups: Vec<Value> = files
        .iter()
        .flat_map(|f| seq(&parse_all(f).remove(0)["groups"]).to_vec())
        .collect();
    let names = |groups: &[Value]| -> Vec<String> {
        groups
            .iter()
            .map(|g| str_of(&g["name"]).to_owned())
            .collect()
    };
    assert!(
        names(&groups).iter().any(|n| n == "slo-alerts"),
        "the scan finds the rule files: {files:?}"
    );

    // Every PrometheusRule an overlay applies carries them all, unchanged
    // (k8s/components/slo/generate.py writes it), and some overlay has one.
    let mut found = 0;
    for overlay_name in OVERLAYS {
        for rule in overlay(overlay_name).all("PrometheusRule") {
            let name = str_of(&rule["metadata"]["name"]);
            let shipped = seq(&rule["spec"]["groups"]);
            let stale = "run k8s/components/slo/generate.py";
            assert_eq!(
                names(shipped),
                names(&groups),
                "{overlay_name}: PrometheusRule {name}'s groups; {stale}"
            );
            // Rule by rule, so that a failure names the one that differs.
            for (shipped, source) in shipped.iter().zip(&groups) {
                let group = str_of(&source["name"]);
                let (ours, theirs) = (seq(&shipped["rules"]), seq(&source["rules"]));
                assert_eq!(
                    ours.len(),
                    theirs.len(),
                    "{overlay_name}: PrometheusRule {name}, group {group}: rules; {stale}"
                );
                for (i, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
                    let rule = format!("{}{}", str_of(&theirs["record"]), str_of(&theirs["alert"]));
                    assert_eq!(
                        ours, theirs,
                        "{overlay_name}: PrometheusRule {name}, group {group}, rule {i} ({rule}); {stale}"
                    );
                }
                assert_eq!(
                    shipped, source,
                    "{overlay_name}: PrometheusRule {name}, group {group}; {stale}"
                );
            }
            found += 1;
        }
    }
    assert!(
        found >= 1,
        "no overlay applies the SLO rules (k8s/components/slo)"
    );
}
