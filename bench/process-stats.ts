import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'

// What a child process costs: its CPU time and resident set, from /proc (or ps elsewhere).

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
