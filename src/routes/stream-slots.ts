import { AppError } from '../errors/catalogue.js'

/**
 * Where a client's open event streams and long polls are counted against EVENTS_MAX_PER_CLIENT:
 * this process's memory, or one count per client in Redis for the whole fleet (src/shared-state/
 * implements both).
 */
export interface ClientSlots {
  /** one of `client`'s slots, as the function that gives it back (once); undefined when the client holds them all */
  take: (client: string) => Promise<(() => void) | undefined>
}

export interface StreamSlotsOptions {
  /** EVENTS_MAX_STREAMS: open streams and long polls in this process */
  maxStreams: number
  /** EVENTS_MAX_PER_CLIENT: open streams and long polls per API key, or per client address without one */
  maxPerClient: number
  /** where the per-client count is kept (SharedState.clientSlots): the fleet's, or this process's */
  clientSlots: ClientSlots
}

/**
 * The bounds on what holds a watcher open: an event stream, or a long poll while it waits. A
 * slot is taken when one opens and given back when it ends. Beyond EVENTS_MAX_STREAMS in this
 * process a 503 (the process is out of capacity: its sockets and memory); beyond the client's
 * share, counted wherever clientSlots counts it, a 429. The total is checked first, so a full
 * process never asks Redis.
 */
export function createStreamSlots ({ maxStreams, maxPerClient, clientSlots }: StreamSlotsOptions) {
  let open = 0
  return {
    /** A slot for `client`, as the function that gives it back (once); rejects with the refusal when there is none. */
    async take (client: string): Promise<() => void> {
      if (open >= maxStreams) {
        throw new AppError('UNAVAILABLE', { detail: `This service has ${maxStreams} event streams and long polls open, its limit; try again shortly.` })
      }
      // counted before the client's share is asked (which may wait on Redis), so concurrent takes cannot all pass the check
      open += 1
      let release: (() => void) | undefined
      try {
        release = await clientSlots.take(client)
      } finally {
        if (release === undefined) open -= 1
      }
      if (release === undefined) {
        throw new AppError('RATE_LIMITED', { detail: `This client has ${maxPerClient} event streams and long polls open, its limit (EVENTS_MAX_PER_CLIENT); close one, or poll without Prefer: wait, and try again.` })
      }
      let given = false
      return () => {
        if (given) return
        given = true
        open -= 1
        release()
      }
    }
  }
}

export type StreamSlots = ReturnType<typeof createStreamSlots>
