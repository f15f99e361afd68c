import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort, killedWithParent } from './processes.js'

// A throwaway redis-server for the Redis tests and the bench: Debian's binary, on a free
// loopback port, no persistence, killed with the parent.

/** Debian's redis-server, as .ci/run installs it. */
export const REDIS_SERVER = 'redis-server'

/** How to get it, for the line that says a Redis test or scenario was skipped. */
export const REDIS_SERVER_INSTALL = `Install Debian's package (apt-get install ${REDIS_SERVER}) to run them; .ci/run does`

const READY_TIMEOUT_MS = 10_000

export function redisServerInstalled (): boolean {
  return spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0
}

export interface RedisServer {
  url: string
  port: number
  /** stops the server (SIGKILL: as if the machine died), keeping its port */
  kill: () => Promise<void>
  /** starts it again on the same port, empty */
  restart: () => Promise<void>
}

export interface RedisServerOptions {
  /** arguments before the usual ones, given the port: a configuration file first (as --sentinel needs one), then options */
  args?: (port: number) => string[]
  /** the log line that says it serves (a sentinel never writes the server's own) */
  readyLine?: string
}

/** Starts redis-server on a free loopback port and resolves once it accepts connections. */
export async function startRedisServer ({ args = () => [], readyLine = 'Ready to accept connections' }: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined

  async function run (): Promise<void> {
    const started = spawn(REDIS_SERVER, [...args(port), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
    child = started
    killedWithParent(started)
    let output = ''
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${REDIS_SERVER} not ready after ${READY_TIMEOUT_MS} ms: ${output}`)) }, READY_TIMEOUT_MS)
        started.stdout.on('data', (chunk: Buffer) => {
          output += String(chunk)
          if (!output.includes(readyLine)) return
          clearTimeout(timer)
          resolve()
        })
        started.once('error', (error) => { clearTimeout(timer); reject(error) })
        started.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${REDIS_SERVER} exited with ${code}: ${output}`)) })
      })
    } catch (error) {
      await kill()
      throw error
    }
    // its later log lines are not kept, and must not fill the pipe
    started.stdout.removeAllListeners('data')
    started.stdout.resume()
  }

  async function kill (): Promise<void> {
    const running = child
    child = undefined
    // never started (spawn failed), or already gone
    if (running?.pid === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGKILL')
    await exited
  }

  await run()
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: run }
}
