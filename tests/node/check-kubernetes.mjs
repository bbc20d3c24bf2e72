// Checks the manifests of deploy/kubernetes/ against the Kubernetes object schemas (kubernetes-models,
// generated from the Kubernetes OpenAPI spec; the Prometheus Operator's CRD schemas for the
// ServiceMonitor), then what the schemas cannot see: the objects refer to each other correctly.
//   node tests/node/check-kubernetes.mjs deploy/kubernetes [version]
// With a version (CMake's, from ctest), the Deployment's image must be that version's.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { Secret, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

// The model classes' type declarations (kubernetes-models' .d.ts files, generated from the same
// spec) name every field an object may have: a field they do not name is a misspelling.
const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules");
const declarations = new Map();
function declaration(file) {
  if (!declarations.has(file)) {
    const text = fs.readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
    const imports = new Map();
    for (const [, name, from] of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm))
      imports.set(name, from.startsWith(".") ? path.join(path.dirname(file), from.replace(/\.js$/, ".d.ts")) : path.join(modules, `${from}.d.ts`));
    const body = text.match(/^export interface \w+(?: extends \w+)? \{\n([\s\S]*?)^\}$/m)?.[1] ?? "";
    const fields = new Map();
    for (const [, name, type] of body.matchAll(/^    "([^"]+)"\??: ([\s\S]*?);$/gm)) fields.set(name, type);
    declarations.set(file, { imports, fields });
  }
  return declarations.get(file);
}
function unknownFields(value, file, where, out) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const { imports, fields } = declaration(file);
  for (const [key, child] of Object.entries(value)) {
    let type = fields.get(key);
    if (type === undefined) { out.push(`${where}.${key} is not a field of ${path.basename(file, ".d.ts")}`); continue; }
    type = type.trim();
    const map = type.match(/^\{\s*\[key: string\]: (\w+)/);
    const list = type.match(/^Array<(\w+)>$/);
    const name = map?.[1] ?? list?.[1] ?? type;
    if (!imports.has(name)) continue;  // a string, a number, IntOrString...
    const items = map ? Object.entries(child ?? {}) : list ? (child ?? []).map((c, i) => [i, c]) : [[null, child]];
    for (const [k, c] of items) unknownFields(c, imports.get(name), k === null ? `${where}.${key}` : `${where}.${key}[${k}]`, out);
  }
}
const declarationFiles = {
  Secret: "kubernetes-models/v1/Secret.d.ts", Service: "kubernetes-models/v1/Service.d.ts",
  Deployment: "kubernetes-models/apps/v1/Deployment.d.ts", PodDisruptionBudget: "kubernetes-models/policy/v1/PodDisruptionBudget.d.ts",
  ServiceMonitor: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.d.ts",
};

const models = { "v1/Secret": Secret, "v1/Service": Service, "apps/v1/Deployment": Deployment,
                 "policy/v1/PodDisruptionBudget": PodDisruptionBudget, "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor };
const dir = process.argv[2];
const version = process.argv[3];
const problems = [];
const fail = (where, what) => problems.push(`${where}: ${what}`);
const objects = {};

// The schemas check types, required fields, enumerations and formats. Like Kubernetes' OpenAPI
// spec they allow fields they do not name (the API server refuses those only with strict field
// validation): unknownFields() refuses them, and the fields these manifests rely on are checked by
// hand below. The walk must itself refuse a misspelt field, or it would prove nothing:
{
  const out = [];
  unknownFields({ spec: { replica: 2, template: { spec: { containers: [{ name: "x", readinesProbe: {} }] } } } },
                path.join(modules, declarationFiles.Deployment), "self-check", out);
  if (out.length !== 2) fail("self-check", `the field check found ${JSON.stringify(out)} in a Deployment with two misspelt fields`);
}
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
for (const file of files) {
  for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"))) {
    if (doc.errors.length) { fail(file, `not valid YAML: ${doc.errors.map((e) => e.message).join("; ")}`); continue; }
    const obj = doc.toJS();
    if (obj === null) continue;
    if (obj.kind === "Kustomization") { objects.Kustomization = { file, obj }; continue; }
    const Model = models[`${obj.apiVersion}/${obj.kind}`];
    if (!Model) { fail(file, `no schema here for ${obj.apiVersion} ${obj.kind}`); continue; }
    try {
      new Model(obj).validate();
    } catch (e) {
      fail(file, `${obj.kind} does not match its schema: ${e.message}`);
    }
    const unknown = [];
    unknownFields(obj, path.join(modules, declarationFiles[obj.kind]), obj.kind, unknown);
    for (const u of unknown) fail(file, u);
    objects[obj.kind] = { file, obj };
  }
}

// What the schemas do not check.
const want = ["Secret", "Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "Kustomization"];
for (const kind of want) if (!objects[kind]) fail(dir, `no ${kind}`);
if (problems.length === 0) {
  const dep = objects.Deployment.obj, spec = dep.spec, pod = spec.template.spec, c = pod.containers[0];
  const labels = spec.template.metadata.labels;
  const selects = (sel) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  if (spec.replicas !== 2) fail("deployment.yaml", "not two replicas");
  if (version && c.image !== `pgtrickle-relay:${version}`) fail("deployment.yaml", `the image ${c.image} is not pgtrickle-relay:${version}, CMake's version`);
  if (!selects(spec.selector.matchLabels)) fail("deployment.yaml", "the selector does not select the pods");
  if (!selects(objects.Service.obj.spec.selector)) fail("service.yaml", "the selector does not select the relays");
  if (!selects(objects.PodDisruptionBudget.obj.spec.selector.matchLabels)) fail("poddisruptionbudget.yaml", "the selector does not select the relays");
  if (!(objects.PodDisruptionBudget.obj.spec.minAvailable >= 1)) fail("poddisruptionbudget.yaml", "minAvailable below 1");
  const port = c.ports.find((p) => p.name === "metrics");
  if (!port) fail("deployment.yaml", "no container port named metrics");
  const probes = { livenessProbe: "/health/live", readinessProbe: "/health/ready" };
  for (const [probe, p] of Object.entries(probes))
    if (c[probe]?.httpGet?.path !== p || c[probe]?.httpGet?.port !== "metrics") fail("deployment.yaml", `${probe} is not GET ${p} on the metrics port`);
  const addr = c.env.find((e) => e.name === "PGTRICKLE_RELAY_METRICS_ADDR")?.value ?? "0.0.0.0:9090";
  if (port && !addr.endsWith(`:${port.containerPort}`)) fail("deployment.yaml", `the relay listens on ${addr}, not on the metrics port`);
  const url = c.env.find((e) => e.name === "PGTRICKLE_RELAY_POSTGRES_URL")?.valueFrom?.secretKeyRef;
  const secret = objects.Secret.obj;
  if (!url || url.name !== secret.metadata.name || !(url.key in (secret.stringData ?? secret.data ?? {})))
    fail("deployment.yaml", "PGTRICKLE_RELAY_POSTGRES_URL does not come from the Secret's key");
  for (const e of c.env) if (!e.name.startsWith("PGTRICKLE_RELAY_")) fail("deployment.yaml", `${e.name} is not a PGTRICKLE_RELAY_ variable`);
  if (!(pod.securityContext?.runAsNonRoot && pod.securityContext?.runAsUser > 0)) fail("deployment.yaml", "may run as root");
  if (!(pod.terminationGracePeriodSeconds > 10)) fail("deployment.yaml", "the grace period is not longer than the relay's 10 s drain");
  const svcPort = objects.Service.obj.spec.ports.find((p) => p.name === "metrics");
  if (!svcPort) fail("service.yaml", "no port named metrics");
  for (const ep of objects.ServiceMonitor.obj.spec.endpoints)
    if (ep.port !== "metrics" || ep.path !== "/metrics") fail("servicemonitor.yaml", "does not scrape /metrics on the metrics port");
  if (!Object.entries(objects.ServiceMonitor.obj.spec.selector.matchLabels).every(([k, v]) => objects.Service.obj.metadata.labels[k] === v))
    fail("servicemonitor.yaml", "does not select the Service");
  const listed = [...objects.Kustomization.obj.resources].sort();
  const others = files.filter((f) => f !== objects.Kustomization.file);
  if (JSON.stringify(listed) !== JSON.stringify(others)) fail("kustomization.yaml", `resources ${listed} are not the manifests ${others}`);
}

if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`${files.length} files: ${Object.keys(objects).join(", ")} valid against their schemas and consistent`);
