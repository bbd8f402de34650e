// libFuzzer target: the line protocol's splitter and envelope decoding must never crash or hold
// more than the line limit.
import JSON

/// Claims every body and decodes it as a hello, so body decoding is exercised too.
struct AnyBody: EnvelopeBodyResolver {
    func bodyDecoder(type: String, id: UInt64) -> BodyDecoder? { Hello.bodyDecoder }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLines(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var splitter = LineSplitter(maxLineBytes: 256)
    let step = max(1, Int(bytes.first ?? 1) % 13)
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + step)
        splitter.append(Array(bytes[offset..<end]))
        offset = end
        while let item = splitter.next() {
            if case .line(let line) = item {
                precondition(line.count <= 256, "a line over the limit came out")
                _ = try? IncomingEnvelope(line: line, resolver: AnyBody())
            }
        }
    }
    return 0
}
