import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { createSharedState } from '../../src/shared-state/choose.js'
import { runInThisProcess } from '../../src/shared-state/memory/coalescing.js'
import { requireRedisServer, startRedisServer } from '../fixtures/redis-server.js'
import { QUIET } from '../fixtures/logger.js'

t.test('without REDIS_URL, every seam stays in this process\'s memory', async (t) => {
  const states: boolean[] = []
  const state = createSharedState(loadConfig({}), { log: QUIET, onSharedState: (up) => { states.push(up) } })
  await state.start()
  t.equal(state.coalescing, runInThisProcess, 'the vendor call is this process\'s own')
  t.notOk(state.isShared())
  await state.close()
  t.same(states, [], 'nothing to report coming or going')
})

t.test('with REDIS_URL, every seam goes through Redis', async (t) => {
  if (!requireRedisServer(t)) return
  const redis = await startRedisServer(t)
  const states: boolean[] = []
  const state = createSharedState(loadConfig({ REDIS_URL: redis.url }), { log: QUIET, onSharedState: (up) => { states.push(up) } })
  t.teardown(() => state.close())
  await state.start()
  t.ok(state.isShared())
  t.not(state.coalescing, runInThisProcess)
  t.same(states, [true])
})
