import t from 'tap'
import { orderIdOfKey, orderKey } from '../../src/orders/cache-key.js'

t.test('a key is (order id, machine), and gives its order id back', async (t) => {
  t.equal(orderKey(54, '16327129'), '54:16327129')
  t.not(orderKey(54, '16327129'), orderKey(54, '16327128'), 'two machines never share a key')
  t.equal(orderIdOfKey(orderKey(54, '16327129')), 54)
  t.equal(orderIdOfKey(orderKey(Number.MAX_SAFE_INTEGER, '123456789012')), Number.MAX_SAFE_INTEGER)
  for (const key of ['54', '054:16327129', ':16327129', '54:', '-1:16327129', '54:1632a', '54:16327129:9']) t.equal(orderIdOfKey(key), undefined, key)
})
