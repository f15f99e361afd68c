import t from 'tap'
import { openFilesSoftLimit } from '../../src/bootstrap/open-files-limit.js'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             63344                63344                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`

t.test('the soft limit on open files, read from /proc/self/limits', async (t) => {
  t.equal(openFilesSoftLimit(() => LIMITS), 1024)
  t.equal(openFilesSoftLimit(() => LIMITS.replace('1024   ', 'unlimited')), undefined, 'unlimited: nothing to warn about')
  t.equal(openFilesSoftLimit(() => { throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }) }), undefined, 'no /proc (not Linux): unknown')
  if (process.platform === 'linux') t.type(openFilesSoftLimit(), 'number', 'this process\'s own')
})
