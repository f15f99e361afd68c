import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Ajv } from 'ajv'
import t from 'tap'
import ts from 'typescript'
import { parse, parseAllDocuments } from 'yaml'

// deploy/ against the schemas of the engines that read it: each Kubernetes manifest against the
// Kubernetes API's models (kubernetes-models), compose.yaml against the Compose specification's
// JSON schema (the copy dclint ships). A misspelt field must fail, so each check is also shown a
// copy with one.

const ROOT = new URL('../../', import.meta.url).pathname
const KUBERNETES = 'deploy/kubernetes'
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')
const clone = <T>(value: T): T => structuredClone(value)

interface Manifest { file: string, apiVersion: string, kind: string, object: any }

const manifests: Manifest[] = readdirSync(join(ROOT, KUBERNETES)).filter((file) => /\.ya?ml$/.test(file)).sort()
  .flatMap((file) => parseAllDocuments(read(`${KUBERNETES}/${file}`)).map((document) => {
    const object = document.toJS()
    return { file, apiVersion: object?.apiVersion, kind: object?.kind, object }
  }))
const KUSTOMIZE = 'kustomize.config.k8s.io/v1beta1'
const objects = manifests.filter((manifest) => !(manifest.apiVersion === KUSTOMIZE && manifest.kind === 'Kustomization'))

/** kubernetes-models' runtime check: types, required fields, enums and formats (it lets unknown fields through). */
async function modelErrors ({ apiVersion, kind, object }: Manifest): Promise<string | null> {
  const models: Record<string, any> = await import(`kubernetes-models/${apiVersion}`)
  const Model = models[kind]
  if (typeof Model !== 'function') return `kubernetes-models has no ${apiVersion} ${kind}`
  try {
    new Model(object).validate()
    return null
  } catch (error) {
    return (error as Error).message
  }
}

/**
 * Unknown fields, at any depth: each manifest as an object literal of kubernetes-models' interface
 * for its kind, type-checked. TypeScript refuses a property an object literal's type does not
 * declare, so a misspelt field (and a wrongly typed one) is an error that names it.
 */
function unknownFields (list: Manifest[]): Map<Manifest, string[]> {
  const sources = new Map(list.map((manifest, i) => [join(ROOT, 'test', 'deploy', `__manifest_${i}__.ts`), manifest]))
  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: [],
    skipLibCheck: true
  }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists } = host
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name)
  host.getSourceFile = (name, language, ...rest) => {
    const manifest = sources.get(name)
    if (manifest === undefined) return getSourceFile.call(host, name, language, ...rest)
    const text = `import type { I${manifest.kind} } from 'kubernetes-models/${manifest.apiVersion}'\n` +
      `export const manifest: I${manifest.kind} = ${JSON.stringify(manifest.object, null, 2)}\n`
    return ts.createSourceFile(name, text, language)
  }
  const program = ts.createProgram([...sources.keys()], options, host)
  const problems = new Map(list.map((manifest) => [manifest, [] as string[]]))
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const manifest = diagnostic.file === undefined ? undefined : sources.get(diagnostic.file.fileName)
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')
    if (manifest === undefined) throw new Error(`type-checking the manifests: ${message}`)
    problems.get(manifest)!.push(message)
  }
  return problems
}

// copies of the real manifests, each with one mistake
const deployment = objects.find((manifest) => manifest.kind === 'Deployment')!
const misspelt = clone(deployment)
const probe = misspelt.object.spec.template.spec.containers[0].livenessProbe
probe.periodSecond = probe.periodSeconds
delete probe.periodSeconds
const labels = clone(objects.find((manifest) => manifest.kind === 'ConfigMap')!)
labels.object.metadata.lables = labels.object.metadata.labels
delete labels.object.metadata.labels
const mistyped = clone(deployment)
mistyped.object.spec.replicas = 'two'
// one type-check program for all (loading the types is what takes the time)
const unknown = unknownFields([...objects, misspelt, labels, mistyped])

t.test('kubernetes: every manifest is a valid object of the Kubernetes API, with no unknown field', async (t) => {
  t.ok(objects.length >= 6, `${objects.length} objects in ${KUBERNETES}`)
  for (const manifest of objects) {
    t.equal(await modelErrors(manifest), null, `${manifest.file}: a valid ${manifest.apiVersion} ${manifest.kind}`)
    t.same(unknown.get(manifest), [], `${manifest.file}: every field is one ${manifest.kind} has`)
  }
})

t.test('kubernetes: a misspelt or mistyped field fails', async (t) => {
  t.match(unknown.get(misspelt), [/'"?periodSecond"?' does not exist in type 'IProbe'/], 'livenessProbe.periodSecond is refused, by name')
  t.match(unknown.get(labels), [/'"?lables"?' does not exist in type 'IObjectMeta'/], 'metadata.lables is refused, by name')
  t.match(await modelErrors(mistyped), /replicas must be integer/, 'replicas: "two" is refused at run time')
  t.match(unknown.get(mistyped), [/not assignable to type 'number'/], 'and by the type check')
  const missing = clone(deployment)
  delete missing.object.spec.selector
  t.match(await modelErrors(missing), /selector/, 'a Deployment without its selector is refused')
})

t.test('kubernetes: the kustomization applies every manifest but the Secret template, and nothing else', async (t) => {
  const [kustomization, ...others] = manifests.filter((manifest) => manifest.apiVersion === KUSTOMIZE && manifest.kind === 'Kustomization')
  t.equal(others.length, 0, 'one kustomization')
  t.equal(kustomization?.file, 'kustomization.yaml', 'kustomization.yaml, the name `kubectl apply -k` reads')
  const files = [...new Set(objects.map((manifest) => manifest.file))].filter((file) => file !== 'secret.example.yaml')
  t.same([...kustomization!.object.resources].sort(), files.sort(), `resources: ${files.join(', ')}`)
  t.same(Object.keys(kustomization!.object).filter((key) => !['apiVersion', 'kind', 'resources', 'images'].includes(key)), [],
    'no field but apiVersion, kind, resources and images')
})

t.test('compose.yaml against the Compose specification', async (t) => {
  const require = createRequire(import.meta.url)
  const schema = JSON.parse(readFileSync(join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json'), 'utf8'))
  t.equal(schema.title, 'Compose Specification', 'the Compose specification\'s schema')
  // draft-07, named by its https address, which ajv knows by its http one; the schema's own style (union
  // types, oneOf branches without a type) is not held to ajv's strict authoring rules
  t.equal(schema.$schema, 'https://json-schema.org/draft-07/schema', 'written in draft-07')
  const validate = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false }).compile({ ...schema, $schema: 'http://json-schema.org/draft-07/schema#' })
  const errors = (document: unknown): string[] => validate(document)
    ? []
    : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''} ${JSON.stringify(error.params)}`)
  // merge: the replicas share one definition through `<<: *api`, as Compose resolves it
  const compose = parse(read('deploy/compose.yaml'), { merge: true })
  t.same(errors(compose), [], 'deploy/compose.yaml is valid')

  const misspelt = clone(compose)
  misspelt.services['api-1'].stop_grace_periode = misspelt.services['api-1'].stop_grace_period
  delete misspelt.services['api-1'].stop_grace_period
  t.match(errors(misspelt), [/^\/services\/api-1 must NOT have additional properties .*stop_grace_periode/], 'a misspelt service field fails, by name')
  const healthcheck = clone(compose)
  healthcheck.services.vendor.healthcheck.intervall = '5s'
  t.match(errors(healthcheck), [/^\/services\/vendor\/healthcheck must NOT have additional properties .*intervall/], 'a misspelt health check field fails')
  const mistyped = clone(compose)
  mistyped.services['api-2'].depends_on = 'redis'
  t.ok(errors(mistyped).some((error) => error.startsWith('/services/api-2/depends_on')), 'a mistyped value fails (depends_on as one string)')
})
