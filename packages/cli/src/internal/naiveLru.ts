/**
 * The LRU everyone writes first: an array of keys in use order, reordered on
 * every access (`indexOf` + `splice` + `push`), so a read costs O(n). Kept
 * only as a point of comparison in the bench.
 */
export class NaiveLru<K, V> {
  readonly #order: Array<K> = []
  readonly #values = new Map<K, V>()

  get(key: K): V | undefined {
    const at = this.#order.indexOf(key)
    if (at === -1) return undefined
    this.#order.splice(at, 1)
    this.#order.push(key)
    return this.#values.get(key)
  }

  set(key: K, value: V): void {
    const at = this.#order.indexOf(key)
    if (at !== -1) this.#order.splice(at, 1)
    this.#order.push(key)
    this.#values.set(key, value)
  }
}
