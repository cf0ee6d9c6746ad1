#Requires -Version 7.4
# Pester 5. Run by `./build.ps1 Test` (through the test host) wherever pwsh and Pester exist.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Package.ps1')
    $script:Root = Resolve-Path (Join-Path $PSScriptRoot '../..')
    $script:Module = Get-CassaFSPackage
}

Describe 'CassaFS.psd1' {
    It 'is a valid manifest once packaged' {
        $manifest = Test-ModuleManifest (Join-Path $Module 'CassaFS.psd1') -ErrorAction Stop
        $manifest.Name | Should -Be 'CassaFS'
        $manifest.PowerShellVersion | Should -Be ([version]'7.4')
        $manifest.CompatiblePSEditions | Should -Contain 'Core'
    }

    It 'exports nothing by wildcard' {
        $data = Import-PowerShellDataFile (Join-Path $Root 'CassaFS.psd1')
        foreach ($key in 'FunctionsToExport', 'CmdletsToExport', 'VariablesToExport', 'AliasesToExport') {
            $data.ContainsKey($key) | Should -BeTrue -Because "$key must be an explicit list"
            @($data[$key]) -contains '*' | Should -BeFalse -Because "$key must not be a wildcard"
        }
    }

    It 'exports exactly the CassaFS cmdlets, with help, and registers the provider' {
        $job = Start-Job -ScriptBlock {
            param($m)
            Import-Module (Join-Path $m 'CassaFS.psd1') -ErrorAction Stop
            [pscustomobject]@{
                Cmdlets  = @((Get-Command -Module CassaFS).Name | Sort-Object)
                Provider = (Get-PSProvider CassaFS).Name
                Synopsis = (Get-Help Lock-CassaItem).Synopsis
            }
        } -ArgumentList $Module
        $result = $job | Wait-Job | Receive-Job -ErrorAction Stop
        $expected = (Import-PowerShellDataFile (Join-Path $Root 'CassaFS.psd1')).CmdletsToExport | Sort-Object
        $result.Cmdlets | Should -Be $expected
        $result.Provider | Should -Be 'CassaFS'
        $result.Synopsis | Should -Match 'lock'
    }

    It 'loads into a session from the packaged folder' {
        $job = Start-Job -ScriptBlock { param($m) Import-Module (Join-Path $m 'CassaFS.psd1') -ErrorAction Stop; (Get-Module CassaFS).Version.ToString() } -ArgumentList $Module
        $job | Wait-Job | Receive-Job -ErrorAction Stop | Should -Be '0.1.0'
    }
}
