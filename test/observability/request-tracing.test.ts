import t from 'tap'
import { tracedPath } from '../../src/observability/request-tracing.js'

t.test('url.path: never the query, never a secret path parameter', async (t) => {
  t.equal(tracedPath('/orders/54?machine=16327129&access_token=x', '/orders/:id'), '/orders/54', 'the query goes')
  t.equal(tracedPath('/orders/54', '/orders/:id'), '/orders/54')
  t.equal(tracedPath('/callbacks/delivery/s3cr3t-token?x=1', '/callbacks/delivery/:token'), '/callbacks/delivery/REDACTED', 'the callback token goes')
  t.equal(tracedPath('/callbacks/delivery/a/b', '/callbacks/delivery/:token'), '/callbacks/delivery/:token', 'segments that do not line up: the pattern')
  t.equal(tracedPath('/nowhere?key=x', undefined), '/nowhere', 'no route (404): the path without its query')
})
