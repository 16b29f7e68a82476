// The router's roles for its azure backend (provisioning/azure.py), in the lanes' resource group:
// exactly what its calls need, no more (README "Deploying to Azure" step 4, docs/azure.md).
// Not needed: check_name_availability (only asked after a 409, and its failure is ignored), and
// any role-assignment right (lanes run as the one identity granted in lanes.bicep).
param routerPrincipalId string
param laneIdentityName string
param packageStorageAccountName string
param packageContainerName string
@description('Empty: no Durable Task Scheduler.')
param schedulerName string

var roles = {
  websiteContributor: 'de139f84-1756-47ae-9be6-808fbbe84772'
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c'
}

resource laneIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: laneIdentityName
}

resource packageStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: packageStorageAccountName
}

resource packageBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: packageStorage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: packageBlobs
  name: packageContainerName
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' existing = if (!empty(schedulerName)) {
  name: schedulerName
}

// Sites: GET/PUT (begin_create_or_update)/DELETE, config/appsettings list and PUT,
// host/default/listkeys, syncfunctiontriggers, restart; and GET of the lanes' plan plus
// serverFarms/join to place an app on it. Scoped to the lanes' group: never the router's own app.
resource websiteContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, routerPrincipalId, roles.websiteContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.websiteContributor)
    principalId: routerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// A site PUT naming a user-assigned identity needs userAssignedIdentities/*/assign/action on it.
resource identityOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(laneIdentity.id, routerPrincipalId, roles.managedIdentityOperator)
  scope: laneIdentity
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.managedIdentityOperator)
    principalId: routerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Deploy reads the package blob with a storage token to check the release's sha256.
resource packageReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(packageContainer.id, routerPrincipalId, roles.storageBlobDataReader)
  scope: packageContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: routerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// GET of the scheduler (its endpoint) and PUT/GET/DELETE of one task hub per lane
// (provisioning/azure_scheduler.py, Microsoft.DurableTask/schedulers/taskHubs/*).
resource schedulerContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(schedulerName)) {
  name: guid(scheduler.id, routerPrincipalId, roles.contributor)
  scope: scheduler
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.contributor)
    principalId: routerPrincipalId
    principalType: 'ServicePrincipal'
  }
}
