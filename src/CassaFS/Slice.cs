namespace CassaFS;

/// <summary>
/// Bytes written at <see cref="Pos"/> within one block, stored on their own (the <c>slices</c> table) instead of
/// rewriting the block: a 4 KiB write into a 1 MiB block costs 4 KiB, as JuiceFS's slices within a chunk. A block
/// reads as its row overlaid with its slices (<see cref="Overlay"/>); a writer that piled up many of them compacts
/// them into the row (<see cref="OpenFile"/>).
/// </summary>
internal readonly record struct Slice(long Stamp, int Pos, ReadOnlyMemory<byte> Data)
{
    /// <summary>The slices one stored row holds: its disjoint ranges, all at the row's stamp.</summary>
    public static IEnumerable<Slice> Of(long stamp, IEnumerable<BlockRange> ranges) => ranges.Select(r => new Slice(stamp, r.Pos, r.Data));

    /// <summary>The block offset just after the slice's last byte.</summary>
    public int End => Pos + Data.Length;

    /// <summary>
    /// The block as a reader sees it: <paramref name="row"/> (written at <paramref name="rowStamp"/>; null for none,
    /// which reads as zeros) overlaid, in stamp order, with every slice stamped above it. A slice no newer than the row
    /// was superseded by that whole-block write (a later holder's, a truncate's cut, a compaction) and is ignored. The
    /// merged block is as long as the row or the end of the last byte a slice put, whichever is further; null when
    /// there is neither row nor slice.
    /// </summary>
    public static ReadOnlyMemory<byte>? Overlay(ReadOnlyMemory<byte>? row, long rowStamp, IEnumerable<Slice> slices)
    {
        var applied = slices.Where(s => s.Stamp > rowStamp).OrderBy(s => s.Stamp).ToList(); // stable: equal stamps keep their order
        if (applied.Count == 0) return row;
        var merged = new byte[Math.Max(row?.Length ?? 0, applied.Max(s => s.End))];
        row?.Span.CopyTo(merged);
        foreach (var slice in applied) slice.Data.Span.CopyTo(merged.AsSpan(slice.Pos));
        return merged;
    }
}

/// <summary>
/// Bytes at <see cref="Pos"/> within one block. A slice row stores one or several disjoint ones under one stamp, so a
/// writer's scattered small writes into a block cost one row, not one each.
/// </summary>
internal readonly record struct BlockRange(int Pos, ReadOnlyMemory<byte> Data)
{
    public int End => Pos + Data.Length;
}
