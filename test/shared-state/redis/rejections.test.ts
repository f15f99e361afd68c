import t from 'tap'
import { createRejections, keyFaultOf, REJECTION_LOG_EVERY_MS, type RejectionReason } from '../../../src/shared-state/redis/rejections.js'
import { fakeClock } from '../../fixtures/clock.js'

t.test('every rejection is counted; the log has one line per interval, with the counts since the last', async (t) => {
  const clock = fakeClock()
  const lines: Array<[object, string]> = []
  const counted: RejectionReason[] = []
  const reject = createRejections({ log: { info: () => {}, warn: (obj, msg) => { lines.push([obj, msg]) } }, onRejected: (reason) => { counted.push(reason) }, now: clock.now })
  reject('signature', 'outcome')
  for (let i = 0; i < 1000; i++) reject(i % 2 === 0 ? 'signature' : 'mismatch', 'changes message')
  t.equal(counted.length, 1001, 'the metric counts each')
  t.equal(lines.length, 1, 'the log one line')
  t.match(lines[0], [{ redis: 'rejected', reason: 'signature', rejected: 'outcome', since: { signature: 1 } }, /taken as absent/])
  await clock.advance(REJECTION_LOG_EVERY_MS)
  reject('future', 'outcome')
  t.equal(lines.length, 2)
  t.same(lines[1]![0], { redis: 'rejected', reason: 'future', rejected: 'outcome', since: { signature: 500, mismatch: 500, future: 1 } }, 'the next line sums up what was left out')
})

t.test('a reply about one key\'s contents is a key fault; anything else is not', async (t) => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' })
  t.equal(keyFaultOf(reply('WRONGTYPE Operation against a key holding the wrong kind of value')), 'wrongtype')
  t.equal(keyFaultOf(reply('ERR value is not an integer or out of range')), 'not_integer')
  t.equal(keyFaultOf(reply('READONLY You can\'t write against a read only replica.')), undefined, 'a Redis that cannot write is a Redis failure')
  t.equal(keyFaultOf(reply('OOM command not allowed when used memory > \'maxmemory\'.')), undefined)
  t.equal(keyFaultOf(new Error('Command timed out')), undefined)
  t.equal(keyFaultOf(new Error('WRONGTYPE but not from Redis')), undefined, 'only Redis\'s own replies')
  t.equal(keyFaultOf('WRONGTYPE'), undefined)
})
