import t from 'tap'
import { testConfig } from './helper.js'

// the tests' own contract: a busy test machine must not turn answers into 503s, except in the
// tests about shedding, which turn it on through `env`
t.test('test apps run with load shedding off unless a test turns it on', async (t) => {
  t.match(testConfig('http://127.0.0.1:9').limits, { maxEventLoopDelayMs: 0, maxRssBytes: 0 })
  t.match(testConfig('http://127.0.0.1:9', {}, { MAX_RSS_BYTES: '1' }).limits, { maxEventLoopDelayMs: 0, maxRssBytes: 1 })
})
