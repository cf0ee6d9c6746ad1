namespace CassaFS;

/// <summary>
/// Write timestamps for the <c>blocks</c>, <c>slices</c> and <c>block_index</c> tables, made from the inode lock's fencing token
/// instead of a clock: the fence of data writes.
/// <para>Cassandra keeps, of two writes of one cell, the one with the larger timestamp, whatever order they arrive in.
/// With clock timestamps, a block write of a holder whose lock was lost (a process paused past its ZooKeeper session,
/// a request stalled in the network, a hint replayed late) lands over the next holder's data, and a writer whose clock
/// runs ahead hides the writes of the holders after it. Stamped from fencing tokens, which grow with every grant of the
/// inode lock, a later holder's writes always win over an earlier holder's. The inode itself is fenced by its
/// compare-and-set (<see cref="CassaFileSystem"/>), so a stale holder can neither show its data nor commit its size.</para>
/// <para>A stamp is <c>2^52 + token * 2^16 + n</c>: above every clock timestamp (2^52 µs after 1970 is in 2112), so
/// data stored before stamping is overwritten and deleted as usual; <c>n</c> counts the operations of one holding
/// (each write call, flush or truncate takes one stamp for all the blocks it stores, which are distinct cells). A holding
/// that used its 65,536 stamps commits and takes the lock again, for a larger token.</para>
/// </summary>
internal sealed class BlockStamps
{
    private const int SequenceBits = 16;
    private const long Base = 1L << 52;

    /// <summary>The largest token a stamp can carry (2^45 - 1: a ZooKeeper czxid of up to 8,191 leader epochs).</summary>
    public const long MaxToken = (1L << 45) - 1;

    /// <summary>
    /// The stamp of deletes that purge an inode nobody can write again (no names, not open here): above every token's
    /// stamps (the largest is below 2^52 + 2^61), so no late write of any holder reappears over them.
    /// </summary>
    public const long Purge = 1L << 62;

    /// <summary>
    /// The most stamps one operation and the flush after it take: a write takes two (its block and slice stores, then
    /// the compactions they made due), a flush two (its stores, then the compactions due), a truncate three (the flush
    /// of its buffer, then its cut and deletes).
    /// </summary>
    public const int PerOperation = 5;

    private long _next;
    private readonly long _end;

    public BlockStamps(long fencingToken)
    {
        if (fencingToken is < 0 or > MaxToken)
            throw new ArgumentOutOfRangeException(nameof(fencingToken), fencingToken, $"fencing tokens above {MaxToken} do not fit in a block stamp");
        _next = Base + (fencingToken << SequenceBits);
        _end = _next + (1L << SequenceBits);
    }

    /// <summary>Stamps this holding can still give.</summary>
    public long Left => _end - _next;

    /// <summary>A stamp larger than every one this holding gave before.</summary>
    public long Next() => _next < _end ? _next++ : throw new InvalidOperationException("this holding of the inode lock has used all its block stamps");
}
