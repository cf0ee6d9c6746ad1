using CassaFS.Locks;

namespace CassaFS.Tests;

/// <summary>An operation's locks (<see cref="LockSet"/>) against the real ZooKeeper lock provider.</summary>
public class LockSetTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task Letting_go_releases_every_lock_together_and_one_failed_release_keeps_none_of_the_others()
    {
        var provider = new ZooKeeperLockProvider(f.ZooKeeper);
        var keys = Enumerable.Range(0, 3).Select(_ => LockKey.ForInode(Guid.NewGuid())).Order().ToList();
        var failing = new FailingRelease(provider, keys[1]);
        var set = await LockSet.AcquireAsync(failing, keys.Select(k => (k, LockMode.Write)), "test", TimeSpan.FromSeconds(10), CancellationToken.None);
        foreach (var key in keys) Assert.Single((await provider.InspectAsync(key)).Holders);

        var e = await Assert.ThrowsAsync<IOException>(async () => await set.DisposeAsync());
        Assert.Equal("release refused", e.Message);
        Assert.Empty((await provider.InspectAsync(keys[0])).Holders);
        Assert.Empty((await provider.InspectAsync(keys[2])).Holders);
        Assert.Single((await provider.InspectAsync(keys[1])).Holders); // the one whose release failed (before it began)

        await failing.Refused!.DisposeAsync();
        Assert.Empty((await provider.InspectAsync(keys[1])).Holders);
    }

    /// <summary>Grants through the real provider; the handle for <paramref name="refuse"/> throws at release, before releasing anything.</summary>
    private sealed class FailingRelease(ILockProvider inner, LockKey refuse) : ForwardingLockProvider(inner)
    {
        public ILockHandle? Refused { get; private set; }

        public override async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
        {
            var handle = await Inner.AcquireAsync(request, ct);
            if (request.Key != refuse) return handle;
            Refused = handle;
            return new Refusing(handle);
        }

        private sealed class Refusing(ILockHandle real) : ForwardingLockHandle(real)
        {
            public override ValueTask ReleaseAsync(CancellationToken ct = default) => throw new IOException("release refused");

            protected override ValueTask LetGoAsync() => throw new IOException("release refused");
        }
    }
}
