namespace CassaFS.Cql;

/// <summary>Consistency levels of the native protocol, with their wire codes.</summary>
public enum Consistency : ushort
{
    Any = 0x0000,
    One = 0x0001,
    Two = 0x0002,
    Three = 0x0003,
    Quorum = 0x0004,
    All = 0x0005,
    LocalQuorum = 0x0006,
    EachQuorum = 0x0007,
    Serial = 0x0008,
    LocalSerial = 0x0009,
    LocalOne = 0x000A,
}

/// <summary>Kinds of BATCH: logged (atomic via the batchlog), unlogged, and counter.</summary>
public enum BatchType : byte
{
    Logged = 0,
    Unlogged = 1,
    Counter = 2,
}
