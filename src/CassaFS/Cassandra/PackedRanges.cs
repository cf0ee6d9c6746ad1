using System.Buffers.Binary;

namespace CassaFS;

/// <summary>
/// How a slice row holds several ranges: their bytes end to end in <c>data</c>, and in <c>ranges</c> each one's
/// position within the block and length, as big-endian 32-bit pairs, in the order of their bytes.
/// </summary>
internal static class PackedRanges
{
    public static (byte[] Layout, byte[] Data) Pack(IReadOnlyList<BlockRange> ranges)
    {
        var layout = new byte[ranges.Count * 8];
        var data = new byte[ranges.Sum(r => r.Data.Length)];
        var at = 0;
        for (var i = 0; i < ranges.Count; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(layout.AsSpan(i * 8), ranges[i].Pos);
            BinaryPrimitives.WriteInt32BigEndian(layout.AsSpan((i * 8) + 4), ranges[i].Data.Length);
            ranges[i].Data.Span.CopyTo(data.AsSpan(at));
            at += ranges[i].Data.Length;
        }
        return (layout, data);
    }

    /// <summary>The ranges a packed row holds (slices of <paramref name="data"/>, not copies); a layout that does not fit its data is refused.</summary>
    public static IEnumerable<BlockRange> Unpack(ReadOnlyMemory<byte> layout, ReadOnlyMemory<byte> data)
    {
        if (layout.Length % 8 != 0) throw Corrupt("its layout is not whole (position, length) pairs");
        var ranges = new List<BlockRange>(layout.Length / 8);
        var at = 0;
        for (var i = 0; i < layout.Length; i += 8)
        {
            var pos = BinaryPrimitives.ReadInt32BigEndian(layout.Span[i..]);
            var length = BinaryPrimitives.ReadInt32BigEndian(layout.Span[(i + 4)..]);
            if (pos < 0 || length < 0 || length > data.Length - at) throw Corrupt("a range lies outside its bytes");
            ranges.Add(new BlockRange(pos, data.Slice(at, length)));
            at += length;
        }
        return ranges;
    }

    private static FileSystemException Corrupt(string why) =>
        new(Errno.EIO, "slices", $"a stored slice row is damaged ({why}), so its block cannot be read; restore the file from a copy");
}
