using CassaFS.Locks;

namespace CassaFS.PowerShell.Tests;

[Collection("drive")]
public sealed class LockTests(DriveFixture fixture)
{
    private async Task<string> FileAsync()
    {
        var dir = await fixture.NewDirectoryAsync();
        await new ItemOperations(fixture.Drive).NewAsync($"{dir}/f", ItemKind.File, "x");
        return $"{dir}/f";
    }

    [Fact]
    public async Task Read_locks_are_shared_between_sessions_and_shown_with_their_holders()
    {
        var file = await FileAsync();
        await using var mine = await new LockCommands(fixture.Drive).LockAsync(file, LockMode.Read, purpose: "reader one");
        await using var theirs = await new LockCommands(fixture.Other).LockAsync(file, LockMode.Read, TimeSpan.FromSeconds(2), "reader two");
        var view = await new LockCommands(fixture.Drive).GetAsync(file);
        Assert.Equal(LockMode.Read, view.Mode);
        Assert.Equal(["reader one", "reader two"], view.Holders.Select(h => h.Holder.Purpose).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("cassa:" + file, view.Path);
        Assert.StartsWith("advisory/", view.Key, StringComparison.Ordinal);
        Assert.Equal(mine.Handle.Key.Value, view.Key);
    }

    [Fact]
    public async Task A_write_lock_excludes_another_session_until_the_timeout_and_names_the_holder()
    {
        var file = await FileAsync();
        var handle = await new LockCommands(fixture.Drive).LockAsync(file, LockMode.Write, purpose: "exclusive edit");
        Assert.True(handle.FencingToken > 0);
        var e = await Assert.ThrowsAsync<ItemLockedException>(() => new LockCommands(fixture.Other).LockAsync(file, LockMode.Read, TimeSpan.FromMilliseconds(500)));
        Assert.Contains("exclusive edit", e.Message, StringComparison.Ordinal);
        Assert.Equal(LockMode.Write, Assert.Single(e.Holders).Mode);
        await LockCommands.UnlockAsync(handle);
        await LockCommands.UnlockAsync(handle);
        await using var after = await new LockCommands(fixture.Other).LockAsync(file, LockMode.Write, TimeSpan.FromSeconds(2));
        Assert.Equal(LockState.Held, after.State);
        Assert.True(after.FencingToken > handle.FencingToken);
    }

    [Fact]
    public async Task A_waiter_is_listed_while_it_waits_and_gets_the_lock_when_the_holder_unlocks()
    {
        var file = await FileAsync();
        var holder = await new LockCommands(fixture.Drive).LockAsync(file, LockMode.Write, purpose: "first");
        var waiting = new LockCommands(fixture.Other).LockAsync(file, LockMode.Write, TimeSpan.FromSeconds(10), "second");
        LockView view;
        var deadline = DateTime.UtcNow.AddSeconds(5);
        do
        {
            await Task.Delay(50);
            view = await new LockCommands(fixture.Drive).GetAsync(file);
        }
        while (view.WaiterCount == 0 && DateTime.UtcNow < deadline);
        Assert.Equal("second", Assert.Single(view.Waiters).Holder.Purpose);
        Assert.Contains("first", view.HeldBy, StringComparison.Ordinal);
        await LockCommands.UnlockAsync(holder);
        await using var got = await waiting;
        Assert.Equal("second", got.Holder.Purpose);
    }

    [Fact]
    public async Task Locking_a_file_twice_in_one_session_is_refused_as_busy()
    {
        var file = await FileAsync();
        await using var first = await new LockCommands(fixture.Drive).LockAsync(file, LockMode.Write);
        var e = await Assert.ThrowsAsync<FileSystemException>(() => new LockCommands(fixture.Drive).LockAsync(file, LockMode.Read));
        Assert.Equal("ResourceBusy", Failure.Of(e).Category);
        Assert.Contains("Unlock-CassaItem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_lock_breaks_a_stale_holder_so_others_can_lock()
    {
        var file = await FileAsync();
        var stale = await new LockCommands(fixture.Other).LockAsync(file, LockMode.Write, purpose: "crashed job");
        var broken = await new LockCommands(fixture.Drive).BreakAsync(file, "operator: job is dead");
        Assert.Equal("crashed job", Assert.Single(broken).Holder.Purpose);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (stale.State != LockState.Lost && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(LockState.Lost, stale.State);
        await using var mine = await new LockCommands(fixture.Drive).LockAsync(file, LockMode.Write, TimeSpan.FromSeconds(2));
        Assert.Empty(await new LockCommands(fixture.Drive).BreakAsync(file, "again", participantId: "no-such-participant"));
        await LockCommands.UnlockAsync(stale);
    }

    [Fact]
    public async Task Listing_all_file_locks_shows_held_ones_by_key()
    {
        var file = await FileAsync();
        await using var held = await new LockCommands(fixture.Other).LockAsync(file, LockMode.Write, purpose: "listed");
        var all = new List<LockView>();
        await foreach (var l in new LockCommands(fixture.Drive).ListAsync()) all.Add(l);
        var mine = Assert.Single(all, l => l.Key == held.Key);
        Assert.Equal(LockMode.Write, mine.Mode);
        Assert.All(all, l => Assert.StartsWith("advisory/", l.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Locking_a_missing_file_fails_with_ItemNotFound()
    {
        var dir = await fixture.NewDirectoryAsync();
        var e = await Assert.ThrowsAsync<FileSystemException>(() => new LockCommands(fixture.Drive).LockAsync($"{dir}/ghost", LockMode.Write));
        Assert.Equal("ItemNotFound", Failure.Of(e).ErrorId);
    }
}
