import { setFlagsFromString } from 'node:v8'

// Imported first by server.ts, so it runs before the rest of the service loads.
//
// V8 "pretenures" an allocation site, allocating its objects straight in old space, when the
// objects it made were all alive at one young-generation GC. Early in a process's life that can
// be a site the request path uses on every request (--trace-pretenuring gives only addresses, not
// names). From then on each request leaves garbage in old space, and that garbage also keeps
// young objects alive until a full GC. Measured at a steady 15k req/s of cache hits: about 140 KB
// promoted per young GC instead of about 20 KB, old space growing by about 7 MB/s, and a stall of
// 13 to 30 ms every 1 to 1.5 s (bench/profiling.md). Which site gets picked depends on what the
// first requests happened to do, so the tail came and went between runs.
// This service's long-lived objects are few (the order cache, compiled schemas), so copying
// them out of the young generation once costs less than those stalls.
//
// V8 checks this flag each time a GC collects pretenuring feedback (src/heap/pretenuring-handler-inl.h),
// so setting it at run time works; Node keeps V8's flags writable after start for this function.
setFlagsFromString('--no-allocation-site-pretenuring')
