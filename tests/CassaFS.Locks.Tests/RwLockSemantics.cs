namespace CassaFS.Locks.Tests;

/// <summary>Read/write behaviour every shared-mode provider (local, zookeeper) must show.</summary>
internal static class RwLockSemantics
{
    public static async Task Readers_share_and_a_writer_waits_for_them(ILockProvider provider)
    {
        var key = LockKey.ForFileSystem("/rw/share");
        var readers = new List<ILockHandle>();
        for (var i = 0; i < 5; i++)
            readers.Add(await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromSeconds(5) }));
        Assert.Equal(5, (await provider.InspectAsync(key)).Holders.Count);

        var writer = provider.AcquireAsync(new LockRequest(key, LockMode.Write)).AsTask();
        await Task.Delay(200);
        Assert.False(writer.IsCompleted, "a writer got in while readers held the lock");
        for (var i = 0; i < 4; i++) await readers[i].ReleaseAsync();
        await Task.Delay(200);
        Assert.False(writer.IsCompleted, "a writer got in while one reader still held the lock");
        await readers[4].ReleaseAsync();
        var held = await Contention.Within(writer, 10, "writer granted after the last reader left");

        await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromMilliseconds(200) }));
        var info = await provider.InspectAsync(key);
        Assert.Equal(LockMode.Write, Assert.Single(info.Holders).Mode);
        Assert.Empty(info.Waiters);
        await held.ReleaseAsync();
        Assert.Empty((await provider.InspectAsync(key)).Holders);
    }

    public static async Task A_waiting_writer_goes_before_later_readers(ILockProvider provider)
    {
        var key = LockKey.ForFileSystem($"/rw/fair-{Guid.NewGuid():N}");
        var order = new List<string>();
        var gate = new object();
        var early = await provider.AcquireAsync(new LockRequest(key, LockMode.Read));
        var writer = Take(LockMode.Write, "writer");
        await Contention.UntilAsync(async () => (await provider.InspectAsync(key)).Waiters.Count == 1, 10, "writer queued");
        var late = Take(LockMode.Read, "late reader");
        await Contention.UntilAsync(async () => (await provider.InspectAsync(key)).Waiters.Count == 2, 10, "late reader queued");
        await Task.Delay(100);
        Assert.False(late.IsCompleted, "a reader that came after a waiting writer overtook it");
        await early.ReleaseAsync();
        await Contention.Within(Task.WhenAll(writer, late), 10, "writer then late reader");
        Assert.Equal(new[] { "writer", "late reader" }, order);

        async Task Take(LockMode mode, string name)
        {
            var held = await provider.AcquireAsync(new LockRequest(key, mode));
            lock (gate) order.Add(name);
            await Task.Delay(50);
            await held.ReleaseAsync();
        }
    }
}
