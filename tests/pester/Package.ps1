# Dot-sourced by the Pester files: lays the module out once per PowerShell process (./build.ps1 Package) and
# returns the module folder, so several test files do not publish it again.
function Get-CassaFSPackage {
    $root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $module = Join-Path $root 'out/CassaFS'
    if (-not $global:CassaFSPackaged) {
        & (Join-Path $root 'build.ps1') Package | Out-Host
        $global:CassaFSPackaged = $true
    }
    $module
}

# The test servers the test host passes (CASSAFS_TEST_CASSANDRA / CASSAFS_TEST_ZOOKEEPER, "host:port"), as drive parameters.
function Get-CassaTestServers {
    $cassandraHost, $cassandraPort = $env:CASSAFS_TEST_CASSANDRA -split ':'
    @{
        ContactPoints = $cassandraHost
        Port          = [int]$cassandraPort
        ZooKeeper     = "$($env:CASSAFS_TEST_ZOOKEEPER)/pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        Consistency   = 'One'
    }
}
