namespace CassaFS.Tests;

/// <summary>The arithmetic of block stamps (no servers: the fencing itself is tested in ConcurrencyTests against Cassandra).</summary>
public class BlockStampsTests
{
    [Fact]
    public void Every_stamp_of_a_later_token_is_above_every_stamp_of_an_earlier_one_and_above_the_clock()
    {
        var earlier = new BlockStamps(41);
        var later = new BlockStamps(42);
        var nowMicros = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        var firstOfLater = later.Next();
        long lastOfEarlier = 0;
        while (earlier.Left > 0) lastOfEarlier = earlier.Next();
        Assert.True(lastOfEarlier < firstOfLater);
        Assert.True(new BlockStamps(0).Next() > nowMicros * 2, "stamps must be above clock timestamps for decades, so data written before stamping is overwritten");
        Assert.Throws<InvalidOperationException>(() => earlier.Next());
    }

    [Fact]
    public void A_purge_is_above_the_largest_token_and_tokens_beyond_it_are_refused()
    {
        var largest = new BlockStamps(BlockStamps.MaxToken);
        long last = 0;
        while (largest.Left > 0) last = largest.Next();
        Assert.True(last < BlockStamps.Purge);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockStamps(BlockStamps.MaxToken + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockStamps(-1));
    }
}
