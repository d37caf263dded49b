/**
 * A message as read from its rows, decoded when it is first used.
 *
 * A load reads a session's whole window, and most of it is not asked for
 * before the session leaves memory again: a turn reads the newest page and
 * appends. Parsing every row at load was a fifth of the soak's time, and
 * the parsed objects hold more heap than their text. So a loaded message
 * keeps its rows' text and its size (measured from the rows' lengths, with
 * no parse), and parses on the first read of `message`, once.
 */
import type { MessageId, SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { StoredMessage } from "../port.ts"
import { corrupt, type Json, parseObject } from "./rows.ts"

/** What a part row holds of a part: its id, and `data`, the rest of it as JSON text. */
export interface PartText {
  readonly id: string
  readonly data: unknown
}

const decode = (sessionId: SessionId, id: MessageId, data: unknown, parts: ReadonlyArray<PartText>) => {
  try {
    // The ids from the columns first, then the data: the key order every load has had.
    const decodedParts = parts.map((part): Json => ({
      id: part.id,
      sessionID: sessionId,
      messageID: id,
      ...parseObject(part.data)
    }))
    return { info: { id, sessionID: sessionId, ...parseObject(data) }, parts: decodedParts } as unknown as MessageWithParts
  } catch (error) {
    throw corrupt("message", id, error)
  }
}

/**
 * A stored message from its `message` row's `data` and its part rows (in
 * their order). Reading `message` decodes it the first time, then drops the
 * text; it throws `CorruptRecord`, naming the message, when a row's data is
 * not the JSON text of an object (the store turns that into the read's
 * typed failure).
 *
 * @example
 * ```ts
 * const stored = new RowMessage(sessionId, messageId, '{"role":"user"}', [], 64)
 * stored.message.info.id === messageId // true
 * ```
 */
export class RowMessage implements StoredMessage {
  readonly id: MessageId
  readonly bytes: number
  readonly #sessionId: SessionId
  #decoded: MessageWithParts | undefined
  #data: unknown
  #parts: ReadonlyArray<PartText> | undefined

  constructor(sessionId: SessionId, id: MessageId, data: unknown, parts: ReadonlyArray<PartText>, bytes: number) {
    this.#sessionId = sessionId
    this.id = id
    this.bytes = bytes
    this.#data = data
    this.#parts = parts
  }

  get message(): MessageWithParts {
    if (this.#decoded === undefined) {
      this.#decoded = decode(this.#sessionId, this.id, this.#data, this.#parts!)
      this.#data = undefined
      this.#parts = undefined
    }
    return this.#decoded
  }
}
