import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

// Child node processes for the tests, the soak and the bench: started with only the environment
// they are given, their JSON log lines kept, killed when the parent ends.

/**
 * The node flags the service runs with, as package.json's start script and the Dockerfile's CMD
 * give them (a test holds them equal): pretenuring off, see bench/profiling.md; the old generation
 * grown by 20% per major GC, so churn through a full cache keeps RSS near what is live (bench/distinct-orders.ts).
 */
export const SERVICE_NODE_FLAGS = ['--no-allocation-site-pretenuring', '--heap-growing-percent=20']

export interface NodeProcessOptions {
  /** the child's whole environment besides PATH: it never inherits the parent's */
  env: Record<string, string>
  nodeArgs?: string[]
  /** the child's limit on open files (ulimit -n), set through bash */
  openFiles?: number
  /** drop stdout instead of reading it: for a process that logs every request, whose log the parent must not pay for */
  quiet?: boolean
}

export interface NodeProcess {
  name: string
  child: ChildProcess
  /** the JSON lines it has written to stdout so far */
  lines: Array<Record<string, unknown>>
  /** the last output, for error messages */
  output: () => string
  /** its exit code; null when a signal ended it */
  exit: Promise<number | null>
}

export interface Started extends NodeProcess {
  url: string
}

const running = new Set<ChildProcess>()

/** Kills every child still running; safe to call from an 'exit' handler (synchronous). */
export function killAll (): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** Has killAll end `child` too, as it does every process spawnNode starts. */
export function killedWithParent (child: ChildProcess): void {
  running.add(child)
  child.once('exit', () => running.delete(child))
}

/** `node <script>` with nothing of the parent's environment but PATH. */
export function spawnNode (name: string, script: string, options: NodeProcessOptions): NodeProcess {
  const node = [process.execPath, ...options.nodeArgs ?? [], script]
  const [command, ...args] = options.openFiles === undefined ? node : ['bash', '-c', `ulimit -n ${options.openFiles} && exec "$@"`, 'bash', ...node]
  const child = spawn(command!, args, {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', options.quiet === true ? 'ignore' : 'pipe', 'pipe']
  })
  killedWithParent(child)
  const exit = once(child, 'exit').then(([code]) => code as number | null)

  let tail = ''
  const keep = (text: string): void => { tail = (tail + text).slice(-4000) }
  child.stderr!.setEncoding('utf8').on('data', keep)
  const lines: Array<Record<string, unknown>> = []
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line + '\n')
      try {
        lines.push(JSON.parse(line))
      } catch { /* not a log line */ }
    })
  }
  return { name, child, lines, output: () => tail, exit }
}

/** A port that was free a moment ago; children get it through their environment, so they need no output protocol. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Waits until `url` answers, polling; fails when the process exits first or after `timeoutMs`. */
export async function answering (started: NodeProcess, url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && started.child.exitCode === null && started.child.signalCode === null) {
    try {
      // no keep-alive connection left behind (some tests count the open ones), and no waiting on
      // whatever else holds the port and never answers
      await (await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(1000) })).arrayBuffer()
      return
    } catch {
      await sleep(50)
    }
  }
  throw new Error(`${started.name} did not start:\n${started.output()}`)
}

export interface StartOptions extends Omit<NodeProcessOptions, 'env'> {
  /** answers once the process is ready */
  readyPath: string
  /** the variable that carries the port (default PORT) */
  portVar?: string
}

/** Starts `node <script>` on a free port and waits until `readyPath` answers; stopped again if it does not. */
export async function startProcess (name: string, script: string, env: Record<string, string>, options: StartOptions): Promise<Started> {
  const port = await freePort()
  const started = { ...spawnNode(name, script, { ...options, env: { ...env, [options.portVar ?? 'PORT']: String(port) } }), url: `http://127.0.0.1:${port}` }
  try {
    await answering(started, started.url + options.readyPath)
    return started
  } catch (error) {
    await stopProcess(started)
    throw error
  }
}

/** SIGTERM, then SIGKILL if it lingers. */
export async function stopProcess ({ child, exit }: NodeProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exit
  clearTimeout(timer)
}
