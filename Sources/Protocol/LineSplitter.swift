import Glibc

/// Splits a byte stream into newline-terminated lines, never holding more than `maxLineBytes`.
///
/// A line over the limit is discarded up to its newline and reported once, so the connection
/// survives a peer's mistake without buffering it.
public struct LineSplitter: Sendable {
    public enum Item: Sendable, Equatable {
        case line([UInt8])
        case oversized
    }

    /// Raised once a peer has authenticated, so strangers never get the large bound.
    public var maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var position = 0
    private var scanned = 0
    private var discarding = false

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    public mutating func append(_ bytes: [UInt8]) {
        if position == buffer.count {
            buffer = bytes
            position = 0
            scanned = 0
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// The next complete line without its newline (a trailing CR is dropped too).
    public mutating func next() -> Item? {
        while true {
            let start = max(position, scanned)
            guard let newline = Self.newline(in: buffer, from: start) else {
                scanned = buffer.count
                if buffer.count - position > maxLineBytes {
                    buffer.removeAll()
                    position = 0
                    scanned = 0
                    if !discarding {
                        discarding = true
                        return .oversized
                    }
                }
                return nil
            }
            var end = newline
            if end > position, buffer[end - 1] == 0x0D { end -= 1 }
            let line = Array(buffer[position..<end])
            position = newline + 1
            scanned = position
            compact()
            if discarding {
                discarding = false
                continue
            }
            if line.count > maxLineBytes { return .oversized }
            if line.isEmpty { continue }
            return .line(line)
        }
    }

    /// memchr: lines carrying a page of contacts are hundreds of kilobytes.
    private static func newline(in buffer: [UInt8], from start: Int) -> Int? {
        buffer.withUnsafeBytes { raw in
            guard start < raw.count, let found = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    private mutating func compact() {
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            position = 0
            scanned = 0
        } else if position > 1 << 20 {
            buffer.removeFirst(position)
            scanned -= position
            position = 0
        }
    }
}
