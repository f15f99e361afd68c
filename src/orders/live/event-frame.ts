import type { Order } from '../schema.js'
import { representationOf } from '../representation.js'

/** One Server-Sent Event's fields; `data` is one line (JSON has no raw newlines). */
export interface EventFields {
  event: string
  id?: string | undefined
  data: string
}

/**
 * The event's bytes exactly as @fastify/sse's send() formats them (`id`, then `event`, then
 * `data` lines, then a blank line), so frames written straight to the socket look the same.
 */
export function formatFrame ({ event, id, data }: EventFields): Buffer {
  let text = id === undefined || id === '' ? '' : `id: ${id}\n`
  text += `event: ${event}\n`
  for (const line of data.split('\n')) text += `data: ${line}\n`
  return Buffer.from(`${text}\n`)
}

/**
 * The `order` frame of an order, built once per order object: the fan-out hands every watcher
 * the same object for one change, so one change is serialized and encoded once however many
 * streams it goes to. `format` is the builder (tests count its calls).
 */
export function createOrderFrames (format: (fields: EventFields) => Buffer = formatFrame) {
  const frames = new WeakMap<Order, Buffer>()
  return (order: Order): Buffer => {
    let frame = frames.get(order)
    if (frame === undefined) {
      const { etag, body } = representationOf(order)
      frame = format({ event: 'order', id: etag, data: body })
      frames.set(order, frame)
    }
    return frame
  }
}

/** This process's order frames, shared by every stream. */
export const orderFrame = createOrderFrames()
