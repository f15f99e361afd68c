import t from 'tap'
import { AppError } from '../../../src/errors/catalogue.js'
import type { Outcome } from '../../../src/orders/outcome.js'
import { runInThisProcess } from '../../../src/shared-state/memory/coalescing.js'
import { order } from '../../orders/fixtures/read-through.js'

t.test('in one process the work runs once per call, as a vendor call of its own', async (t) => {
  const outcome: Outcome = { kind: 'order', order: order(54), storedAt: 0, freshMs: 1000 }
  let calls = 0
  const work = async () => { calls++; return outcome }
  t.same(await runInThisProcess('54:16327129', work), { outcome, tier: 'vendor' })
  t.equal((await runInThisProcess('54:16327129', work)).outcome, outcome)
  t.equal(calls, 2, 'nothing kept between calls: read-through coalesces in this process')
})

t.test('the work\'s failure is the caller\'s', async (t) => {
  await t.rejects(runInThisProcess('54:16327129', async () => { throw new AppError('MACHINE_OFFLINE') }), { code: 'MACHINE_OFFLINE' })
})
