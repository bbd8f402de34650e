/// What a process is to the others on the line protocol. The manager listens; gateways and
/// dialers connect, each proving its role with that role's secret.
public enum PeerRole: String, Codable, Sendable, CaseIterable {
    case gateway
    case dialer
    case manager

    /// The longest line an authenticated peer of this role may send.
    public var maxLineBytes: Int {
        switch self {
        case .gateway, .manager: WireProtocol.maxLineBytes
        case .dialer: WireProtocol.maxDialerLineBytes
        }
    }

    /// Peer names appear in logs and `/readyz`: short, printable ASCII, no quotes or separators.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: Array("-_.:@".utf8).contains(byte)
            }
        }
    }
}

extension RPCMessage where Self: GatewayRequest {
    public static var senders: Set<PeerRole> { [.gateway] }
}

extension RPCMessage where Self: DialerRequest {
    public static var senders: Set<PeerRole> { [.dialer] }
}

extension RPCMessage where Self: ManagerRequest {
    public static var senders: Set<PeerRole> { [.manager] }
}

/// Gateway → manager: the API's messages. Each names the account it acts for, so only the
/// process that authenticated the API key may send them.
public protocol GatewayRequest: RPCMessage {}
/// Dialer → manager: registering, beginning and reporting placements.
public protocol DialerRequest: RPCMessage {}
/// Manager → dialer: offers, Do-Not-Call changes and lookups.
public protocol ManagerRequest: RPCMessage {}
