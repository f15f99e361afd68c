import { existsSync, readdirSync, readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { ConfigError, loadConfig, SETTINGS, type Config } from '../src/config/config.js'
import { createMetrics } from '../src/observability/metrics.js'
import { buildMetricsServer } from '../src/observability/metrics-server.js'
import { buildSimulator } from '../src/simulator/app.js'
import { DEMO_CREDENTIALS } from '../src/simulator/credentials.js'
import { loadSimulatorSettings, SIMULATOR_SETTINGS } from '../src/simulator/settings.js'
import { buildTestApp } from './helper.js'

// deploy/ is written for engines that do not run here (Docker, Kubernetes): these checks hold its
// variable names, ports, probe paths and shutdown times to what the code really reads and serves.

const ROOT = new URL('..', import.meta.url).pathname
const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8')
// merge: compose.yaml shares the replicas' definition through `<<: *api`
const yaml = (path: string): any => parse(read(path), { merge: true })

type Env = Record<string, string>

// the image's final stage: its ENV is every container's starting environment
const finalStage = read('Dockerfile').split(/^FROM /m).at(-1)!.replace(/\\\n/g, ' ')
const imageEnv: Env = Object.fromEntries([...finalStage.matchAll(/^ENV (.+)$/gm)]
  .flatMap((line) => [...line[1]!.matchAll(/(\w+)=(\S+)/g)].map((pair) => [pair[1]!, pair[2]!])))
const imageUser = /^USER (\S+)/m.exec(finalStage)?.[1]

/** A name the service reads: a setting, or the OpenTelemetry SDK's own variables. */
const isSetting = (name: string): boolean => name in SETTINGS.shape || name.startsWith('OTEL_')

/** The service's own routes, and whether each answers 200 normally and while draining. */
async function probe (t: Test, path: string): Promise<{ normally: number, draining: number }> {
  const app = await buildTestApp(t, 'http://127.0.0.1:9')
  const normally = (await app.inject({ method: 'GET', url: path })).statusCode
  app.readiness.ready = false
  const draining = (await app.inject({ method: 'GET', url: path })).statusCode
  return { normally, draining }
}

/** Durations as Compose writes them: 20s, 1m30s, 500ms. */
function seconds (duration: string): number {
  const parts = [...duration.matchAll(/(\d+)(ms|s|m|h)/g)]
  if (parts.map((part) => part[0]).join('') !== duration) throw new Error(`not a duration: ${duration}`)
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }
  return parts.reduce((sum, part) => sum + Number(part[1]) * unit[part[2] as keyof typeof unit], 0)
}

/** Kubernetes memory quantities: 512Mi, 1Gi, 500M, plain bytes. */
function bytes (quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity)
  if (match === null) throw new Error(`not a quantity: ${quantity}`)
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }
  return Number(match[1]) * (match[2] === undefined ? 1 : unit[match[2] as keyof typeof unit])
}

/** The drain (readiness off) plus the slowest in-flight request: what the platform must wait for. */
const drainMs = (config: Config): number => config.limits.shutdownDelayMs + config.vendorTimeoutMs

t.test('the image', async (t) => {
  t.ok(Object.keys(imageEnv).length > 0, 'the Dockerfile sets ENV in its final stage')
  for (const name of Object.keys(imageEnv)) t.ok(isSetting(name), `the image's ${name} is a setting`)
  t.ok(imageUser !== undefined && !['root', '0'].includes(imageUser.split(':')[0]!), `the image runs as a non-root user (${imageUser})`)
})

t.test('compose.yaml', async (t) => {
  const compose = yaml('deploy/compose.yaml')
  const services: Record<string, any> = compose.services
  t.notOk('version' in compose, 'Compose specification: no version key')

  // ${NAME:-default} as Compose resolves it with nothing set in the shell
  const interpolate = (value: unknown): string => {
    const text = String(value).replace(/\$\{\w+:?-([^}]*)\}/g, '$1')
    t.notOk(text.includes('$'), `${text}: every variable has a default`)
    return text
  }
  const environment = (service: any): Env => Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(value)]))
  const replicas = Object.keys(services).filter((name) => name.startsWith('api-'))
  const configs = new Map(replicas.map((name) => [name, loadConfig({ ...imageEnv, ...environment(services[name]) })]))
  const redis = Object.keys(services).find((name) => /^(redis|valkey\/valkey):/.test(services[name].image ?? ''))

  t.test('two replicas of the service, each a valid config of known settings, on the vendor and Redis here', async (t) => {
    t.ok(replicas.length >= 2, `${replicas.length} replicas`)
    for (const name of replicas) {
      const env = environment(services[name])
      for (const variable of Object.keys(env)) t.ok(isSetting(variable), `${name}: ${variable} is a setting`)
      const config = configs.get(name)!
      t.equal(config.mode, 'production', `${name} runs as in production`)
      t.same(config.vendor && { appId: config.vendor.appId, appSecret: config.vendor.appSecret, signKey: config.vendor.signKey }, DEMO_CREDENTIALS,
        `${name} signs with the simulator's demo credentials`)
      const vendor = new URL(config.vendor!.baseUrl)
      t.ok(services[vendor.hostname]?.command?.includes('dist/src/simulator/main.js'), `${name}: VENDOR_BASE_URL names the simulator's service`)
      t.equal(vendor.port, environment(services[vendor.hostname]).SIMULATOR_PORT, `${name}: VENDOR_BASE_URL has the simulator's port`)
      t.equal(config.redis && 'url' in config.redis && new URL(config.redis.url).hostname, redis, `${name}: REDIS_URL names the Redis service`)
    }
  })

  t.test('the vendor is the simulator, with settings it reads, notifying a replica', async (t) => {
    const name = Object.keys(services).find((service) => services[service].command?.includes('dist/src/simulator/main.js'))!
    t.ok(name, 'a service runs the simulator')
    const script = services[name].command.find((arg: string) => arg.startsWith('dist/'))
    t.ok(existsSync(`${ROOT}${script.replace(/^dist\//, '').replace(/\.js$/, '.ts')}`), `${script} is built from a source file`)
    const env = environment(services[name])
    for (const variable of Object.keys(env)) t.ok((SIMULATOR_SETTINGS as readonly string[]).includes(variable), `${variable} is a simulator setting`)
    const settings = loadSimulatorSettings(env)
    if ('problems' in settings) return t.fail(settings.problems.join('; '))
    t.equal(settings.host, '0.0.0.0', 'the simulator listens beyond its container')
    const notify = new URL(settings.notifyUrl!)
    const replica = configs.get(notify.hostname)
    t.ok(replica, 'SIMULATOR_NOTIFY_URL names a replica')
    t.equal(Number(notify.port), replica?.port, 'on its PORT')
    t.equal(notify.pathname, `/callbacks/delivery/${replica?.callbackToken}`, 'with its CALLBACK_TOKEN')
  })

  t.test('ports: the container ports are the configured ones, every host port different', async (t) => {
    const hostPorts: string[] = []
    for (const [name, service] of Object.entries(services)) {
      // short syntax: [ip:]host:container
      const mappings = (service.ports ?? []).map((mapping: string) => mapping.split(':').slice(-2))
      hostPorts.push(...mappings.map(([host]: string[]) => host))
      const config = configs.get(name)
      if (config === undefined) continue
      t.same(mappings.map(([, container]: string[]) => Number(container)).sort(), [config.port, config.metricsPort].sort(), `${name} publishes PORT and METRICS_PORT`)
    }
    t.equal(new Set(hostPorts).size, hostPorts.length, `host ports ${hostPorts.join(', ')} are all different`)
  })

  t.test('health checks probe what is served; the stop waits for the drain', async (t) => {
    for (const name of replicas) {
      const config = configs.get(name)!
      const url = new URL(/http:\/\/[^']+/.exec(services[name].healthcheck.test.join(' '))![0])
      t.equal(Number(url.port), config.port, `${name} checks its own PORT`)
      t.same(await probe(t, url.pathname), { normally: 200, draining: 503 }, `${name} checks readiness (${url.pathname})`)
      t.ok(seconds(services[name].stop_grace_period) * 1000 > drainMs(config), `${name}: stop_grace_period is longer than the drain`)
      t.not(services[name].user?.split(':')[0], '0', `${name} is not run as root`)
    }
    const vendor = services.vendor
    const url = new URL(/http:\/\/[^']+/.exec(vendor.healthcheck.test.join(' '))![0])
    t.equal(url.port, environment(vendor).SIMULATOR_PORT, 'the simulator checks its own port')
    t.equal((await buildSimulator().inject({ method: 'GET', url: url.pathname })).statusCode, 200, `the simulator serves ${url.pathname}`)
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries<any>(service.depends_on ?? {})) {
        if (condition === 'service_healthy') t.ok(services[dependency]?.healthcheck, `${name} waits for ${dependency}, which has a health check`)
      }
    }
  })
})

t.test('kubernetes', async (t) => {
  const dir = 'deploy/kubernetes'
  const deployment = yaml(`${dir}/deployment.yaml`)
  const service = yaml(`${dir}/service.yaml`)
  const pdb = yaml(`${dir}/pdb.yaml`)
  const hpa = yaml(`${dir}/hpa.yaml`)
  const configMap = yaml(`${dir}/configmap.yaml`)
  const secret = yaml(`${dir}/secret.example.yaml`)
  const pod = deployment.spec.template.spec
  const [container, ...others] = pod.containers
  t.equal(others.length, 0, 'one container')
  const podEnv: Env = Object.fromEntries((container.env ?? []).map((entry: any) => [entry.name, entry.value]))
  const secretKeys = Object.keys(secret.stringData)
  // what an operator puts in the Secret, well-formed, to check the whole environment
  const STAND_INS: Env = {
    VENDOR_APP_ID: 'app-id',
    VENDOR_APP_SECRET: 'app-secret',
    VENDOR_SIGN_KEY: 'sign-key',
    REDIS_URL: 'redis://:password@redis:6379/0',
    REDIS_SIGNING_KEY: 's'.repeat(64),
    API_KEYS: 'k'.repeat(32),
    CALLBACK_TOKEN: 't'.repeat(32)
  }
  const stood = Object.fromEntries(secretKeys.map((key) => [key, STAND_INS[key] ?? '']))
  // the ConfigMap's vendor address is a placeholder host too, which the operator replaces
  const vendorAddress = { VENDOR_BASE_URL: 'https://vendor.example.com' }
  const config = loadConfig({ ...imageEnv, ...configMap.data, ...vendorAddress, ...stood, ...podEnv })

  t.test('every variable is a setting, and together they make a valid config', async (t) => {
    const names = [...Object.keys(configMap.data), ...secretKeys, ...Object.keys(podEnv)]
    for (const name of names) t.ok(isSetting(name), `${name} is a setting`)
    for (const key of secretKeys) t.ok(key in STAND_INS, `the test knows a well-formed ${key}`)
    t.same(container.envFrom, [{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }],
      'the container reads the ConfigMap and the Secret')
    t.equal(config.mode, 'production', 'production')
  })

  t.test('the Secret template holds placeholders only, and a forgotten one stops the start', async (t) => {
    t.notOk('data' in secret, 'stringData only')
    for (const [key, value] of Object.entries(secret.stringData)) t.equal(value, 'REPLACE_ME', `${key} is a placeholder`)
    const error = t.throws(() => loadConfig({ ...imageEnv, ...configMap.data, ...secret.stringData, ...podEnv })) as ConfigError
    t.ok(error instanceof ConfigError)
    for (const key of secretKeys) {
      t.ok(error.problems.some((problem) => problem.startsWith(`${key}: `)), `${key}=REPLACE_ME is refused`)
    }
    t.match(configMap.data.VENDOR_BASE_URL, /\.example\.invalid$/, 'the ConfigMap\'s vendor address is a placeholder')
    t.ok(error.problems.some((problem) => problem.startsWith('VENDOR_BASE_URL: ')), 'and it is refused too')
    const onlyTheAddress = t.throws(() => loadConfig({ ...imageEnv, ...configMap.data, ...stood, ...podEnv })) as ConfigError
    t.same(onlyTheAddress.problems.map((problem) => problem.split(':')[0]), ['VENDOR_BASE_URL'], 'even when the Secret is filled in')
    const kustomization = yaml(`${dir}/kustomization.yaml`)
    const manifests = readdirSync(`${ROOT}${dir}`).filter((file) => file.endsWith('.yaml') && !['kustomization.yaml', 'secret.example.yaml'].includes(file))
    t.same([...kustomization.resources].sort(), manifests.sort(), 'kustomization applies every manifest but the Secret template')
  })

  t.test('ports and probes are the ones the service listens on and serves', async (t) => {
    const ports = new Map<string, number>(container.ports.map((port: any) => [port.name, port.containerPort]))
    t.equal(ports.get('http'), config.port, 'http is PORT')
    t.equal(ports.get('metrics'), config.metricsPort, 'metrics is METRICS_PORT')
    const { annotations } = deployment.spec.template.metadata
    t.equal(Number(annotations['prometheus.io/port']), config.metricsPort, 'scraped on METRICS_PORT')
    const metrics = buildMetricsServer(createMetrics().registry)
    t.teardown(() => metrics.close())
    t.equal((await metrics.inject({ method: 'GET', url: annotations['prometheus.io/path'] })).statusCode, 200, 'at the path the metrics server serves')
    for (const { targetPort } of service.spec.ports) t.ok(ports.has(targetPort), `the Service's targetPort ${targetPort} is a container port`)

    const { livenessProbe: liveness, readinessProbe: readiness } = container
    for (const { httpGet } of [liveness, readiness]) t.equal(ports.get(httpGet.port) ?? httpGet.port, config.port, `${httpGet.path} is probed on PORT`)
    t.same(await probe(t, liveness.httpGet.path), { normally: 200, draining: 200 }, 'liveness stays 200 while draining')
    t.same(await probe(t, readiness.httpGet.path), { normally: 200, draining: 503 }, 'readiness turns 503 while draining')
  })

  t.test('shutdown, security and resources', async (t) => {
    t.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs(config), 'terminationGracePeriodSeconds is longer than the drain')
    const security = { ...pod.securityContext, ...container.securityContext }
    t.match(security, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }, 'locked down')
    t.ok(security.runAsUser > 0, 'a numeric non-root user, which the kubelet can check')
    t.ok(security.capabilities?.drop?.includes('ALL'), 'every capability dropped')
    const { requests, limits } = container.resources
    t.ok(requests?.cpu && requests?.memory && limits?.cpu && limits?.memory, 'cpu and memory requested and limited')
    const limit = bytes(limits.memory)
    t.ok(config.limits.maxRssBytes > 0 && config.limits.maxRssBytes < limit, `MAX_RSS_BYTES sheds load below the ${limits.memory} limit`)
  })

  t.test('replicas, and the Service, PDB and HPA select them', async (t) => {
    const labels = deployment.spec.template.metadata.labels
    const selector = deployment.spec.selector.matchLabels
    t.match(labels, selector, 'the Deployment selects its pods')
    t.ok(deployment.spec.replicas >= 2, 'two replicas or more')
    t.match(labels, service.spec.selector, 'the Service selects the pods')
    t.same(pdb.spec.selector.matchLabels, selector, 'the PDB selects the pods')
    t.ok(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable >= 1, 'the PDB keeps a replica up')
    t.equal(hpa.apiVersion, 'autoscaling/v2')
    t.match(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name }, 'the HPA scales the Deployment')
    t.ok(hpa.spec.minReplicas >= 2, 'never below two replicas')
    t.ok(hpa.spec.metrics.some((metric: any) => metric.resource?.name === 'cpu'), 'on CPU')
  })
})
