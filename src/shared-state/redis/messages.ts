import { z } from 'zod'
import { CLOCK_SKEW_MS, type Read } from './outcome-codec.js'
import type { Signer } from './signing.js'

/**
 * How old a pub/sub message may be when it arrives: Redis delivers at once, so an older one was
 * held back and sent again (a replay of a message a subscriber saw), or its sender's clock is wrong.
 */
export const MESSAGE_MAX_AGE_MS = 10_000

const SentAt = z.object({ sentAt: z.number().int().nonnegative() })

/** A message for `channel` (unprefixed): its body with the time it was sent, signed over the channel and all of it. */
export function sealMessage (signer: Signer, channel: string, body: object, now: number): string {
  return signer.sealJson(channel, { ...body, sentAt: now })
}

/**
 * A message heard on `channel`, read back through its schema: taken only when a replica of this
 * fleet signed it for that channel (`signature`), it has that shape (`schema`), and it was sent
 * within MESSAGE_MAX_AGE_MS before now (`expired`) and not later than the clock-skew allowance after (`future`).
 */
export function openMessage<T extends object> (signer: Signer, channel: string, sealed: string, schema: z.ZodType<T>, now: number): Read<T> {
  const opened = signer.openJson(channel, sealed)
  if ('rejected' in opened) return opened
  const time = SentAt.safeParse(opened.value)
  const body = schema.safeParse(opened.value)
  if (!time.success || !body.success) return { rejected: 'schema' }
  if (time.data.sentAt > now + CLOCK_SKEW_MS) return { rejected: 'future' }
  if (time.data.sentAt < now - MESSAGE_MAX_AGE_MS) return { rejected: 'expired' }
  return { value: body.data }
}
