import { AppError } from '../errors/catalogue.js'

export interface StreamSlotsOptions {
  /** EVENTS_MAX_STREAMS: open streams in this process */
  maxStreams: number
  /** EVENTS_MAX_PER_CLIENT: open streams per API key, or per client address without one */
  maxPerClient: number
}

/**
 * The bounds on open event streams: a slot is taken when a stream opens and given back when it
 * ends. Beyond the total a 503 (the process is out of capacity), beyond a client's share a 429.
 */
export function createStreamSlots ({ maxStreams, maxPerClient }: StreamSlotsOptions) {
  const perClient = new Map<string, number>()
  let open = 0
  return {
    /** A slot for `client`, as the function that gives it back (once); throws the refusal when there is none. */
    take (client: string): () => void {
      if (open >= maxStreams) {
        throw new AppError('UNAVAILABLE', { detail: `This service has ${maxStreams} event streams open, its limit; try again shortly.` })
      }
      const held = perClient.get(client) ?? 0
      if (held >= maxPerClient) {
        throw new AppError('RATE_LIMITED', { detail: `This client has ${maxPerClient} event streams open, its limit; close one first.` })
      }
      open += 1
      perClient.set(client, held + 1)
      let given = false
      return () => {
        if (given) return
        given = true
        open -= 1
        const left = (perClient.get(client) ?? 1) - 1
        if (left === 0) perClient.delete(client)
        else perClient.set(client, left)
      }
    }
  }
}

export type StreamSlots = ReturnType<typeof createStreamSlots>
