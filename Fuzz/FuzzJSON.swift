// libFuzzer target: the JSON parser must never crash; what it accepts must round-trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    let again = try? JSONParser.parse(value.serialized())
    precondition(again == value, "a parsed document did not survive serialisation")
    return 0
}
