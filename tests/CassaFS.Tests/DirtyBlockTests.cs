namespace CassaFS.Tests;

/// <summary>
/// A partial block keeps the ranges written into stored data apart, merged where they meet, and is stored as one slice
/// row (issue 15): what it holds must be exactly the bytes written, newest last, whatever order they came in.
/// </summary>
public class DirtyBlockTests
{
    private const int BlockSize = 4096;

    private static string Text(DirtyBlock block) =>
        string.Join(" ", block.Ranges.Select(r => $"{r.Pos}:{System.Text.Encoding.ASCII.GetString(r.Data.Span)}"));

    private static void Write(DirtyBlock block, int at, string text) => block.Write(at, System.Text.Encoding.ASCII.GetBytes(text));

    [Fact]
    public void Writes_that_overlap_or_touch_merge_into_one_range_with_the_newest_bytes_and_others_stay_apart()
    {
        using var block = new DirtyBlock(BlockSize, extent: 1000);
        Write(block, 100, "aaaa");
        Write(block, 10, "bb");
        Write(block, 50, "cc");
        Assert.Equal("10:bb 50:cc 100:aaaa", Text(block));
        Write(block, 104, "dd");     // touches the end of 100
        Write(block, 8, "ee");       // touches the start of 10
        Write(block, 49, "ffff");    // over 50 and past it
        Assert.Equal("8:eebb 49:ffff 100:aaaadd", Text(block));
        Write(block, 9, new string('g', 47)); // 9..56: over both ranges and the gap
        Assert.Equal($"8:e{new string('g', 47)} 100:aaaadd", Text(block));
        Assert.Equal(48 + 6, block.PartialBytes);
        Assert.True(block.Partial);
    }

    [Fact]
    public void A_range_that_grows_by_appends_keeps_every_byte()
    {
        using var block = new DirtyBlock(BlockSize, extent: BlockSize);
        var expected = new System.Text.StringBuilder();
        for (var i = 0; i < 300; i++)
        {
            var piece = ((char)('a' + (i % 26))).ToString() + "xyz";
            Write(block, 200 + (i * 4), piece);
            expected.Append(piece);
        }
        Assert.Equal($"200:{expected}", Text(block));
        Assert.Equal(1200, block.PartialBytes);
    }

    [Fact]
    public void A_partial_block_becomes_whole_once_one_range_from_the_start_covers_what_storage_holds()
    {
        using var block = new DirtyBlock(BlockSize, extent: 10);
        Write(block, 4, "456789");
        Assert.True(block.Partial);
        Write(block, 0, "0123");
        Assert.False(block.Partial);
        Assert.Equal(0, block.PartialBytes);
        Assert.Equal(10, block.Length);
        Assert.Equal("0123456789", System.Text.Encoding.ASCII.GetString(block.Buffer, 0, block.Length));
        Write(block, 12, "ab"); // a whole block takes anything: the gap reads as zeros
        Assert.Equal("0123456789\0\0ab", System.Text.Encoding.ASCII.GetString(block.Buffer, 0, block.Length));
    }

    [Fact]
    public void A_partial_block_takes_at_most_a_rows_worth_of_ranges_apart_but_always_one_that_joins_a_range()
    {
        using var block = new DirtyBlock(BlockSize, extent: BlockSize);
        for (var i = 0; i < DirtyBlock.MaxRanges; i++)
        {
            Assert.True(block.Takes(i * 10, (i * 10) + 1));
            Write(block, i * 10, "x");
        }
        Assert.Equal(DirtyBlock.MaxRanges, block.Ranges.Count);
        Assert.False(block.Takes(5, 6));
        Assert.True(block.Takes(1, 3));  // touches the range at 0
        Assert.True(block.Takes(9, 10)); // touches the range at 10
    }
}
