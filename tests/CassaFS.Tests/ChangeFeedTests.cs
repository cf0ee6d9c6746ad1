using System.Collections.Concurrent;
using System.Diagnostics;

namespace CassaFS.Tests;

/// <summary>Change notices between two clients of one filesystem (what lets a mount's kernel cache for long).</summary>
public class ChangeFeedTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    [Fact]
    public async Task A_watcher_hears_of_every_name_and_inode_another_client_changes_and_not_of_its_own()
    {
        await using var other = await f.SecondClientAsync();
        var dir = await f.Fs.ScratchAsync();
        var heard = new ConcurrentQueue<NamespaceChange>();
        await using (f.Fs.WatchChanges(c => { heard.Enqueue(c); return ValueTask.CompletedTask; }, TimeSpan.FromMilliseconds(100)))
        {
            await f.Fs.WriteFileAsync(dir.Id, "mine", "x"u8.ToArray()); // this client's own: not reported to it
            var file = await other.Fs.WriteFileAsync(dir.Id, "theirs", "y"u8.ToArray());
            await other.Fs.RenameAsync(dir.Id, "theirs", dir.Id, "moved", RenameFlags.None, FsTestExtensions.Root);
            await other.Fs.SetAttrAsync(file.Id, new AttributeChanges { Mode = 0x180 }, FsTestExtensions.Root);
            await other.Fs.UnlinkAsync(dir.Id, "moved", FsTestExtensions.Root);

            var want = new[]
            {
                new NamespaceChange(dir.Id, "theirs"), new NamespaceChange(dir.Id, "moved"),
                new NamespaceChange(file.Id, null), new NamespaceChange(dir.Id, null),
            };
            var sw = Stopwatch.StartNew();
            while (!want.All(heard.Contains) && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
            Assert.All(want, w => Assert.Contains(w, heard));
            Assert.DoesNotContain(new NamespaceChange(dir.Id, "mine"), heard);
        }
    }
}
