import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Started {
  name: string
  url: string
  child: ChildProcess
  /** the last lines the process wrote, for error messages */
  output: () => string
}

const running = new Set<ChildProcess>()

/** Kills every child still running; safe to call from an 'exit' handler (synchronous). */
export function killAll (): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** A port that was free a moment ago; children get it through PORT, so they need no output protocol. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface StartOptions {
  /** answers once the process is ready */
  readyPath: string
  /** the variable that carries the port (default PORT) */
  portVar?: string
  nodeArgs?: string[]
  /** drop stdout instead of reading it: for a process that logs every request, whose log the driver must not pay for */
  quiet?: boolean
}

/**
 * Starts `node <script>` on a free port and waits until `readyPath` answers. The tail of what it
 * writes is kept for error messages.
 */
export async function startProcess (name: string, script: string, env: Record<string, string>, options: StartOptions): Promise<Started> {
  const port = await freePort()
  const child = spawn(process.execPath, [...options.nodeArgs ?? [], script], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', HOST: '127.0.0.1', ...env, [options.portVar ?? 'PORT']: String(port) },
    stdio: ['ignore', options.quiet === true ? 'ignore' : 'pipe', 'pipe']
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let tail = ''
  const keep = (chunk: string): void => { tail = (tail + chunk).slice(-4000) }
  child.stdout?.setEncoding('utf8').on('data', keep)
  child.stderr!.setEncoding('utf8').on('data', keep)
  const started: Started = { name, url: `http://127.0.0.1:${port}`, child, output: () => tail }

  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break
    try {
      const res = await fetch(started.url + options.readyPath)
      await res.arrayBuffer()
      return started
    } catch {
      await sleep(50)
    }
  }
  await stopProcess(started)
  throw new Error(`${name} did not start (${script}):\n${tail}`)
}

/** SIGTERM, then SIGKILL if it lingers: each contestant shuts down before the next one starts. */
export async function stopProcess (started: Started): Promise<void> {
  const { child } = started
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/**
 * Peak resident set of a process in bytes. Linux: the kernel's own high-water mark (VmHWM);
 * elsewhere the caller must sample with `currentRss` while the load runs.
 */
export async function peakRss (pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status)
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** Current resident set in bytes, through ps (for systems without /proc). */
export async function currentRss (pid: number): Promise<number | undefined> {
  return await new Promise((resolve) => {
    execFile('ps', ['-o', 'rss=', '-p', String(pid)], (error, stdout) => {
      const kb = Number(stdout.trim())
      resolve(error !== null || !Number.isFinite(kb) || kb === 0 ? undefined : kb * 1024)
    })
  })
}

/** Seconds of CPU (user + system) a process has used, from /proc; undefined elsewhere. */
export async function cpuSeconds (pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which may itself hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/**
 * Watches a process's peak resident set: the kernel's VmHWM where there is /proc, else the
 * highest of `ps` samples taken every 250 ms until stop().
 */
export function watchRss (pid: number): { stop: () => Promise<number | undefined> } {
  let sampled: number | undefined
  const timer = process.platform === 'linux'
    ? undefined
    : setInterval(() => {
      currentRss(pid).then((rss) => { if (rss !== undefined) sampled = Math.max(sampled ?? 0, rss) }, () => {})
    }, 250)
  return {
    async stop () {
      if (timer !== undefined) clearInterval(timer)
      const kernel = await peakRss(pid)
      return kernel ?? sampled
    }
  }
}
