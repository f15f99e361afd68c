import { readFileSync } from 'node:fs'

/** File descriptors the process needs besides client connections: the vendor pool, the simulator in demo mode, metrics, logs. */
export const DESCRIPTORS_BESIDES_CONNECTIONS = 128

/** The process's soft limit on open files (`ulimit -n`); undefined when unlimited or unknown (no /proc: not Linux). */
export function openFilesSoftLimit (readLimits = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    const soft = /^Max open files\s+(\S+)/m.exec(readLimits())?.[1]
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft)
  } catch {
    return undefined
  }
}
