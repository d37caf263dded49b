/**
 * A max-heap of (key, session) for Belady's optimum in the hit-rate replay:
 * the key is the position of the session's next read, so the top is the
 * resident session read farthest ahead. Stale entries (a session used again,
 * or gone) are the caller's to skip when popped.
 *
 * @example
 * ```ts
 * const heap = new FarthestFirst()
 * heap.push(10, 0)
 * heap.push(99, 1)
 * heap.pop() // [99, 1]
 * ```
 */
export class FarthestFirst {
  private keys: Array<number> = []
  private sessions: Array<number> = []
  push(key: number, s: number) {
    const keys = this.keys
    const sessions = this.sessions
    let i = keys.length
    keys.push(key)
    sessions.push(s)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (keys[p]! >= key) break
      keys[i] = keys[p]!
      sessions[i] = sessions[p]!
      i = p
    }
    keys[i] = key
    sessions[i] = s
  }
  pop(): [number, number] | undefined {
    const keys = this.keys
    const sessions = this.sessions
    if (keys.length === 0) return undefined
    const top: [number, number] = [keys[0]!, sessions[0]!]
    const key = keys.pop()!
    const s = sessions.pop()!
    if (keys.length > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= keys.length) break
        const c = l + 1 < keys.length && keys[l + 1]! > keys[l]! ? l + 1 : l
        if (keys[c]! <= key) break
        keys[i] = keys[c]!
        sessions[i] = sessions[c]!
        i = c
      }
      keys[i] = key
      sessions[i] = s
    }
    return top
  }
}
