// The little of autocannon 9's API the load run uses (the package ships no types).
declare module "autocannon" {
  interface Histogram {
    readonly average: number
    readonly p50: number
    readonly p90: number
    readonly p99: number
    readonly max: number
  }
  interface Result {
    readonly requests: Histogram & { readonly total: number }
    readonly latency: Histogram
    readonly throughput: Histogram
    readonly errors: number
    readonly timeouts: number
    readonly non2xx: number
    readonly duration: number
    readonly statusCodeStats: Record<string, { readonly count: number }>
  }
  interface RawRequest {
    method?: string
    path?: string
    body?: string
    headers?: Record<string, string>
  }
  interface Options {
    readonly url: string
    readonly connections?: number
    readonly duration?: number
    readonly maxOverallRequests?: number
    readonly timeout?: number
    readonly headers?: Record<string, string>
    readonly requests?: ReadonlyArray<{ setupRequest?: (request: RawRequest) => RawRequest }>
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
