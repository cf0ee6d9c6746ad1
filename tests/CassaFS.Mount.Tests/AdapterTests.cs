using CassaFS.Fuse;
using CassaFS.Mount;

namespace CassaFS.Mount.Tests;

/// <summary>The FUSE adapter's node table, driven directly.</summary>
public sealed class AdapterTests
{
    [Fact]
    public void Node_ids_are_stable_per_inode_and_go_when_the_kernel_forgets_every_lookup()
    {
        var nodes = new NodeTable();
        Assert.True(nodes.TryGetInode(NodeTable.RootId, out var root));
        Assert.Equal(Guid.Empty, root);
        var inode = Guid.NewGuid();
        var peeked = nodes.Peek(inode);
        var id = nodes.Remember(inode, NodeTable.RootId, "f");
        Assert.Equal(peeked, id);
        Assert.Equal(id, nodes.Remember(inode, NodeTable.RootId, "f"));
        nodes.Forget(id, 1);
        Assert.True(nodes.TryGetInode(id, out _));
        nodes.Forget(id, 1);
        Assert.False(nodes.TryGetInode(id, out _));
        nodes.Forget(NodeTable.RootId, 5);
        Assert.True(nodes.TryGetInode(NodeTable.RootId, out _));
    }

    [Fact]
    public void A_node_s_path_follows_its_lookups_and_this_mount_s_renames_and_goes_with_its_name()
    {
        var nodes = new NodeTable();
        var dir = nodes.Remember(Guid.NewGuid(), NodeTable.RootId, "dir");
        var file = nodes.Remember(Guid.NewGuid(), dir, "a.txt");
        var other = nodes.Remember(Guid.NewGuid(), dir, "b.txt");
        Assert.Equal("/", nodes.PathOf(NodeTable.RootId));
        Assert.Equal("/dir/a.txt", nodes.PathOf(file));

        nodes.Renamed(NodeTable.RootId, "dir", NodeTable.RootId, "moved");
        Assert.Equal("/moved/a.txt", nodes.PathOf(file));
        nodes.Renamed(dir, "a.txt", dir, "b.txt"); // replaces b.txt: that node no longer has a name
        Assert.Equal("/moved/b.txt", nodes.PathOf(file));
        Assert.Null(nodes.PathOf(other));

        var c = nodes.Remember(Guid.NewGuid(), dir, "c.txt");
        nodes.Exchanged(dir, "b.txt", dir, "c.txt");
        Assert.Equal("/moved/c.txt", nodes.PathOf(file));
        Assert.Equal("/moved/b.txt", nodes.PathOf(c));

        nodes.Unnamed(dir, "c.txt");
        Assert.Null(nodes.PathOf(file));
        nodes.Forget(dir, 1);
        Assert.Null(nodes.PathOf(c));
    }
}
