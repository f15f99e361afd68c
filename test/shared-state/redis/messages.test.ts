import t from 'tap'
import { z } from 'zod'
import { MESSAGE_MAX_AGE_MS, openMessage, sealMessage } from '../../../src/shared-state/redis/messages.js'
import { CLOCK_SKEW_MS } from '../../../src/shared-state/redis/outcome-codec.js'
import { signerFor } from './fixtures/trust.js'

const NOW = 1_700_000_000_000
const signer = signerFor('fleet:')
const Body = z.object({ orderId: z.number() })

t.test('a message opens on its channel, signed, recent, of its shape', async (t) => {
  t.same(openMessage(signer, 'wakes', sealMessage(signer, 'wakes', { orderId: 7 }, NOW), Body, NOW + 50), { value: { orderId: 7 } })
})

t.test('and in no other case', async (t) => {
  const open = (sealed: string) => openMessage(signer, 'wakes', sealed, Body, NOW)
  t.same(open(JSON.stringify({ orderId: 7, sentAt: NOW })), { rejected: 'signature' }, 'unsigned')
  t.same(open(sealMessage(signer, 'changes', { orderId: 7 }, NOW)), { rejected: 'signature' }, 'signed for another channel')
  t.same(open(sealMessage(signerFor('fleet:', 'not-the-fleet-key-0123456789abcdefgh'), 'wakes', { orderId: 7 }, NOW)), { rejected: 'signature' }, 'another key')
  t.same(open(sealMessage(signer, 'wakes', { orderId: 'seven' }, NOW)), { rejected: 'schema' })
  t.same(open(signer.sealJson('wakes', { orderId: 7 })), { rejected: 'schema' }, 'without its time')
  t.same(open(sealMessage(signer, 'wakes', { orderId: 7 }, NOW + CLOCK_SKEW_MS + 1)), { rejected: 'future' })
  t.same(open(sealMessage(signer, 'wakes', { orderId: 7 }, NOW - MESSAGE_MAX_AGE_MS - 1)), { rejected: 'expired' }, 'a replay')
  t.match(open(sealMessage(signer, 'wakes', { orderId: 7 }, NOW + CLOCK_SKEW_MS)), { value: { orderId: 7 } }, 'a clock within the allowance')
})
