import t from 'tap'
import { errorForVendorCode } from '../../src/upstream/codes.js'

// The vendor-code table (docs/vendor-api.md, "Error codes"), row by row.
const TABLE: Array<[number[], string, number]> = [
  [[80002, 4004], 'ORDER_NOT_FOUND', 404],
  [[30001, 30003, 6026, 6007], 'MACHINE_NOT_FOUND', 404],
  [[40005, 6042], 'ORDER_EXPIRED', 410],
  [[40006, 6043], 'ORDER_STATE_INVALID', 409],
  [[30004], 'MACHINE_NOT_OPERATING', 409],
  [[30002, 4008, 6025], 'MACHINE_OFFLINE', 503],
  [[10008, 10013, 10014, 10009, 10010, 1000, 4006, 6044, 400, 10001, 4003], 'UPSTREAM_REJECTED', 502],
  [[1, 99999, 5000, -1], 'UPSTREAM_ERROR', 502]
]

for (const [vendorCodes, code, status] of TABLE) {
  t.test(`${vendorCodes.join(', ')} → ${status} ${code}`, async (t) => {
    for (const vendorCode of vendorCodes) {
      const error = errorForVendorCode(vendorCode)
      t.equal(error.code, code, `vendor ${vendorCode}`)
      t.equal(error.status, status)
      t.equal(error.vendorCode, vendorCode)
      t.equal(error.retryAfter, code === 'MACHINE_OFFLINE' ? 30 : undefined, 'an offline machine is asked about again in 30 s')
    }
  })
}

t.test('the error carries the HTTP status of the answer the code came in', async (t) => {
  t.equal(errorForVendorCode(10014, 401).upstreamStatus, 401)
  t.equal(errorForVendorCode(80002).upstreamStatus, undefined)
})
