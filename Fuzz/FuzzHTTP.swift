// libFuzzer target: the HTTP/1.1 request parser must never crash, hang or grow without bound,
// whatever bytes arrive and however they are split.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var limits = HTTPLimits(maxBodyBytes: 4096)
    limits.maxHeaderBytes = 2048
    limits.maxRequestLineBytes = 512
    // The first byte picks how the input is split into reads.
    let step = max(1, Int(bytes.first ?? 1) % 17)
    var parser = HTTPRequestParser(limits: limits)
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + step)
        parser.append(Array(bytes[offset..<end]))
        offset = end
        var events = 0
        while true {
            guard let event = try? parser.next() else { return 0 }
            if case .needMore = event { break }
            events += 1
            precondition(events < 10_000, "parser made no progress")
        }
        precondition(parser.bufferedBytes <= bytes.count, "parser holds more than it was given")
    }
    return 0
}
